"""A synthetic `exports.contacts` table in a fresh DuckDB file and a webhook profile sync of it, for the
engine tests that need an export and a sync but no dbt build and no destination of their own."""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml

from activation.config import Sync, load_syncs


def contact_key(i: int) -> str:
    """The key of contact number i (keys sort in number order)."""
    return f"k{i:05d}"


def contacts_export(tmp_path: Path, rows: int, name: str = "contacts") -> tuple[Path, Sync]:
    """`tmp_path/NAME.duckdb` holding exports.contacts (contact_key, email, score) for contacts 0..rows-1, and
    the upsert_profiles sync of it (webhook destination, email and score mapped)."""
    path = tmp_path / f"{name}.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema exports")
        con.execute(
            "create table exports.contacts as select printf('k%05d', i) as contact_key, "
            "printf('p%05d@x.io', i) as email, i as score from range(?) as t(i)",
            [rows],
        )
    syncs = tmp_path / f"{name}.syncs.yml"
    syncs.write_text(yaml.safe_dump({"version": 1, "syncs": [{
        "name": "contacts", "source": "contacts", "key": "contact_key", "mode": "upsert_profiles",
        "destination": {"type": "webhook", "settings": {"url": "https://example.invalid/hook"}},
        "fields": {"email": "email", "score": "score"},
    }]}))
    return path, load_syncs(syncs).syncs[0]
