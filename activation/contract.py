"""The export contract: which template variables exist, their types and fallbacks.

The single source of truth is the dbt model's YAML,
``models/exports/export_contact_template_variables.yml``. Per column it gives
the name, ``data_type`` and, in ``config.meta``:

* ``fallback``: the value a contact gets when the data is unknown (the export
  never holds nulls);
* ``format: json``: the column holds JSON text of a list of objects, which
  activation decodes into a Python list before rendering;
* ``fields``: for a json column, the keys of each object in the list.

This module reads that YAML and checks profiles (a warehouse row or a seeded
scenario) against it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml

from activation import yamlfile
from activation.errors import ConfigError

EXPORT_SCHEMA = "exports"
EXPORT_MODEL = "export_contact_template_variables"
CONTRACT_PATH_IN_PROJECT = Path("models/exports") / f"{EXPORT_MODEL}.yml"

Kind = Literal["str", "bool", "int", "number", "timestamp", "list"]

# data_type prefix (lower-case) -> the kind of Python value a template receives
_KINDS: tuple[tuple[str, Kind], ...] = (
    ("varchar", "str"),
    ("text", "str"),
    ("string", "str"),
    ("boolean", "bool"),
    ("bool", "bool"),
    ("bigint", "int"),
    ("smallint", "int"),
    ("integer", "int"),
    ("int", "int"),
    ("decimal", "number"),
    ("numeric", "number"),
    ("double", "number"),
    ("float", "number"),
    ("timestamp", "timestamp"),
    ("date", "timestamp"),
)

_PYTHON_TYPES: dict[Kind, tuple[type, ...]] = {
    "str": (str,),
    "bool": (bool,),
    "int": (int,),
    "number": (int, float, Decimal),
    "timestamp": (datetime, date),
    "list": (list,),
}


@dataclass(frozen=True)
class Column:
    """One column of the export contract."""

    name: str
    data_type: str
    kind: Kind
    has_fallback: bool
    fallback: Any
    fields: tuple[str, ...] | None

    @property
    def is_json(self) -> bool:
        """True when the column holds JSON text that is decoded into a list before rendering."""
        return self.kind == "list"

    def decode(self, value: Any) -> Any:
        """The value a template sees: JSON text decoded into a list for json columns, else unchanged."""
        if not self.is_json or isinstance(value, list):
            return value
        if not isinstance(value, str):
            raise ConfigError(f"column {self.name} should hold JSON text, got {type(value).__name__}: {value!r}")
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(f"column {self.name} holds invalid JSON ({error}): {value[:200]!r}") from None
        return decoded

    def fallback_value(self) -> Any:
        """The decoded fallback (json columns: the decoded list)."""
        if not self.has_fallback:
            raise ConfigError(f"column {self.name} has no meta.fallback in {CONTRACT_PATH_IN_PROJECT}")
        return self.decode(self.fallback)

    def problems(self, value: Any) -> list[str]:
        """What is wrong with `value` as this column's decoded value ([] when it fits)."""
        expected = _PYTHON_TYPES[self.kind]
        if value is None:
            return [f"{self.name} is null; the export contract never holds nulls"]
        if isinstance(value, bool) and bool not in expected:
            return [f"{self.name} should be {self.kind}, got bool {value!r}"]
        if not isinstance(value, expected):
            return [f"{self.name} should be {self.kind} ({self.data_type}), got {type(value).__name__} {value!r}"]
        if self.kind != "list":
            return []
        found: list[str] = []
        for position, item in enumerate(value):
            if not isinstance(item, Mapping):
                found.append(f"{self.name}[{position}] should be an object, got {type(item).__name__}")
                continue
            if self.fields is None:
                continue
            missing = [field for field in self.fields if field not in item]
            extra = sorted(set(item) - set(self.fields))
            if missing:
                found.append(f"{self.name}[{position}] lacks field(s) {', '.join(missing)}")
            if extra:
                found.append(
                    f"{self.name}[{position}] has undocumented field(s) {', '.join(extra)} "
                    f"(document them in meta.fields of {self.name})"
                )
        return found


@dataclass(frozen=True)
class ExportContract:
    """The columns of exports.export_contact_template_variables, in contract order."""

    path: Path
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def table(self) -> str:
        """The warehouse relation the export is built as."""
        return f"{EXPORT_SCHEMA}.{EXPORT_MODEL}"

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def list_fields(self) -> dict[str, tuple[str, ...] | None]:
        """Json (list) columns and the documented fields of their objects."""
        return {column.name: column.fields for column in self.columns if column.is_json}

    def decode(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Template variables from a warehouse row: the contract's columns, json columns decoded."""
        missing = [name for name in self.names if name not in row]
        if missing:
            raise ConfigError(
                f"{self.table} lacks column(s) {', '.join(missing)} of the export contract ({self.path}); "
                "rebuild it: dbt build --select +export_contact_template_variables (or make demo)"
            )
        return {column.name: column.decode(row[column.name]) for column in self.columns}

    def problems(self, profile: Mapping[str, Any]) -> list[str]:
        """What keeps `profile` (decoded variables) from matching the contract exactly ([] when it does)."""
        found = [f"missing column {name}" for name in self.names if name not in profile]
        found += [f"unknown column {name} (not in the export contract)" for name in profile if name not in self.names]
        for column in self.columns:
            if column.name in profile:
                found += column.problems(profile[column.name])
        return found

    def fallback_profile(self, **without_fallback: Any) -> dict[str, Any]:
        """A profile where every column holds its meta.fallback (decoded).

        Columns without a fallback (the keys, the computation time) take their
        value from the keyword arguments, which must name exactly those columns.
        """
        needed = {column.name for column in self.columns if not column.has_fallback}
        if set(without_fallback) != needed:
            raise ConfigError(
                f"fallback_profile needs values for exactly the columns without meta.fallback: {sorted(needed)}; "
                f"got {sorted(without_fallback)}"
            )
        return {
            column.name: without_fallback[column.name] if column.name in needed else column.fallback_value()
            for column in self.columns
        }


def project_dir() -> Path:
    """The dbt project: $DBT_PROJECT_DIR, else the checkout this package lives in, else the working directory."""
    configured = os.environ.get("DBT_PROJECT_DIR")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "dbt_project.yml").is_file():
        return checkout
    return Path.cwd()


def default_contract_path() -> Path:
    return project_dir() / CONTRACT_PATH_IN_PROJECT


def load_contract(path: Path | None = None) -> ExportContract:
    """Read the export contract from the dbt model YAML (default: the one in the dbt project)."""
    path = path or default_contract_path()
    if not path.is_file():
        raise ConfigError(
            f"export contract not found at {path}: run from the dbt project directory "
            "or set DBT_PROJECT_DIR to it"
        )
    try:
        document = yamlfile.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    models = [model for model in (document or {}).get("models", []) if model.get("name") == EXPORT_MODEL]
    if len(models) != 1:
        raise ConfigError(f"{path} should describe exactly one model named {EXPORT_MODEL}")
    columns = tuple(_column(raw, path) for raw in models[0].get("columns", []))
    if not columns:
        raise ConfigError(f"{path}: model {EXPORT_MODEL} lists no columns")
    return ExportContract(path=path, columns=columns)


def _column(raw: Mapping[str, Any], path: Path) -> Column:
    name = raw.get("name")
    data_type = str(raw.get("data_type") or "")
    if not name or not data_type:
        raise ConfigError(f"{path}: every column needs a name and a data_type (got {dict(raw)!r})")
    meta = {**(raw.get("meta") or {}), **((raw.get("config") or {}).get("meta") or {})}
    kind = _kind(name, data_type, path)
    fmt = meta.get("format")
    if fmt not in (None, "json"):
        raise ConfigError(f"{path}: column {name} has meta.format {fmt!r}; activation knows only 'json'")
    if fmt == "json":
        if kind != "str":
            raise ConfigError(f"{path}: column {name} has meta.format json but data_type {data_type} (needs text)")
        kind = "list"
    fields = meta.get("fields")
    if fields is not None:
        if kind != "list" or not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ConfigError(f"{path}: column {name}: meta.fields must be a list of names on a format: json column")
        fields = tuple(fields)
    return Column(
        name=name,
        data_type=data_type,
        kind=kind,
        has_fallback="fallback" in meta,
        fallback=meta.get("fallback"),
        fields=fields,
    )


def _kind(name: str, data_type: str, path: Path) -> Kind:
    lowered = data_type.strip().lower()
    for prefix, kind in _KINDS:
        if lowered.startswith(prefix):
            return kind
    raise ConfigError(f"{path}: column {name} has data_type {data_type!r}, which activation cannot map to a value")
