"""Read one contact's template variables from the DuckDB warehouse (read-only).

The row comes from ``exports.export_contact_template_variables``, which
``dbt build`` (or ``make demo``) creates. Only the contract's columns are
returned, with json columns decoded into lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from activation.contract import EXPORT_MODEL, EXPORT_SCHEMA, ExportContract
from activation.db import require_duckdb
from activation.errors import ConfigError

BUILD_HINT = "run `make demo` (sample data) or `dbt build --select +export_contact_template_variables`"


def read_contact(
    db_path: Path,
    contract: ExportContract,
    *,
    contact_key: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    """The decoded template variables of the contact with this contact_key, or with this email."""
    if (contact_key is None) == (email is None):
        raise ConfigError("look a contact up by exactly one of contact_key or email")
    with _connect(db_path) as con:
        _require_table(con, db_path)
        if contact_key is not None:
            where, value, label = "contact_key = ?", contact_key, f"contact_key {contact_key!r}"
        else:
            assert email is not None
            where, value, label = "email = lower(trim(?))", email, f"email {email!r}"
        try:
            cursor = con.execute(f'select * from "{EXPORT_SCHEMA}"."{EXPORT_MODEL}" where {where} limit 1', [value])
        except duckdb.Error as error:
            raise ConfigError(
                f"cannot read {EXPORT_SCHEMA}.{EXPORT_MODEL} in {db_path} ({error}); "
                f"it may predate the export contract: {BUILD_HINT}"
            ) from None
        names = [description[0] for description in cursor.description]
        row = cursor.fetchone()
        if row is None:
            raise ConfigError(_not_found(con, db_path, label))
    variables = contract.decode(dict(zip(names, row, strict=True)))
    problems = contract.problems(variables)
    if problems:
        raise ConfigError(
            f"the row for {label} in {EXPORT_SCHEMA}.{EXPORT_MODEL} does not match the export contract "
            f"({contract.path}): {'; '.join(problems)}. Rebuild it: {BUILD_HINT}"
        )
    return variables


def _connect(db_path: Path) -> duckdb.DuckDBPyConnection:
    require_duckdb(db_path, "preview")
    if not db_path.is_file():
        raise ConfigError(
            f"warehouse not found: {db_path}. {BUILD_HINT[0].upper()}{BUILD_HINT[1:]} first, "
            "or point --db (or WAREHOUSE_PATH) at a built warehouse"
        )
    try:
        return duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error as error:
        raise ConfigError(
            f"cannot open {db_path} read-only ({error}). If dbt is building it right now, wait for it to finish"
        ) from None


def _require_table(con: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [EXPORT_SCHEMA, EXPORT_MODEL],
    ).fetchone()
    if not found or found[0] == 0:
        raise ConfigError(f"{db_path} has no table {EXPORT_SCHEMA}.{EXPORT_MODEL}: {BUILD_HINT}")


def _not_found(con: duckdb.DuckDBPyConnection, db_path: Path, label: str) -> str:
    total, examples = con.execute(
        f'select count(*), list(contact_key order by contact_key)[1:3] from "{EXPORT_SCHEMA}"."{EXPORT_MODEL}"'
    ).fetchone() or (0, [])
    if not total:
        return (
            f"{EXPORT_SCHEMA}.{EXPORT_MODEL} in {db_path} is empty: no contact has an email address "
            f"and granted email marketing consent. Load data and {BUILD_HINT}"
        )
    return (
        f"no contact with {label} in {EXPORT_SCHEMA}.{EXPORT_MODEL} ({db_path}, {total} contacts). "
        "Only customers with an email address and granted email marketing consent are exported; "
        f"try e.g. --customer {examples[0]}, or `activation preview --list` for the seeded scenarios"
    )
