"""Print a short summary of a built warehouse: rows per layer, reconciliation, quarantine.

Usage: python scripts/demo_summary.py --db warehouse.duckdb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

LAYERS = ("raw", "staging", "intermediate", "marts", "exports")


def _tables(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by 1",
        [schema],
    ).fetchall()
    return [name for (name,) in rows]


def _kind(schema: str, table: str) -> str:
    """Group a relation under its layer; staging ledgers, quarantine and audit apart."""
    if table.endswith("_quarantine"):
        return "quarantine"
    if table.startswith("base_") or table.startswith("stg_audit__"):
        return "(ledgers, audit)"
    return schema


def _rows_per_layer(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int]]:
    totals: dict[str, list[int]] = {}
    for layer in LAYERS:
        for table in _tables(con, layer):
            rows = con.execute(f'select count(*) from "{layer}"."{table}"').fetchone()[0]
            entry = totals.setdefault(_kind(layer, table), [0, 0])
            entry[0] += 1
            entry[1] += rows
    return [(kind, relations, rows) for kind, (relations, rows) in totals.items()]


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return table in _tables(con, schema)


def _print_behaviour(con: duckdb.DuckDBPyConnection) -> None:
    """Customers, sessions, identity stitching and RFM segments, once the marts exist."""
    if not (_exists(con, "marts", "customers") and _exists(con, "marts", "sessions")):
        return
    customers, known, consented = con.execute(
        "select count(*), count(*) filter (where is_known_customer), "
        "count(*) filter (where has_email_marketing_consent) from marts.customers"
    ).fetchone()
    sessions = con.execute("select count(*) from marts.sessions").fetchone()[0]
    identifiers, multi, flagged = con.execute(
        "select count(*), count(*) filter (where component_size > 1), count(*) filter (where is_flagged) "
        "from intermediate.int_identifiers_stitched"
    ).fetchone()
    print("\nCustomers and sessions")
    print(f"  customers (profiles)        {customers:>10,}   known: {known:,}   email consent: {consented:,}")
    print(f"  sessions                    {sessions:>10,}")
    print(f"  identifiers                 {identifiers:>10,}   stitched to another: {multi:,}   flagged: {flagged:,}")
    if _exists(con, "marts", "customer_rfm"):
        print("\nRFM segments")
        for segment, size in con.execute(
            "select rfm_segment, count(*) from marts.customer_rfm group by 1 order by 2 desc"
        ).fetchall():
            print(f"  {segment:<28}{size:>9,}")


def _print_segments(con: duckdb.DuckDBPyConnection) -> None:
    """Every declared segment with its members, control group and contacts, once the segments exist."""
    if not _exists(con, "marts", "segment_memberships"):
        return
    rows = con.execute(
        """
        select
            d.segment_family,
            m.segment_key,
            d.priority,
            count(m.customer_key) as members,
            count(case when m.is_holdout then 1 end) as control,
            count(e.contact_key) as contacts
        from marts.segment_definitions d
        left join marts.segment_memberships m using (segment_family)
        left join exports.export_segment_memberships e
            on e.contact_key = m.customer_key and e.segment_key = m.segment_key
        group by all
        order by d.priority, m.segment_key
        """
    ).fetchall()
    print("\nSegments (members at as_of; control = holdout group; contacts = exported, with consent)")
    print(f"  {'segment':<36}{'priority':>9}{'members':>9}{'control':>9}{'contacts':>10}")
    for family, key, priority, members, control, contacts in rows:
        label = key or f"{family} (empty)"
        print(f"  {label:<36}{priority:>9}{members:>9,}{control:>9,}{contacts:>10,}")
    primary = con.execute(
        "select primary_segment_family, count(*) from marts.customer_primary_segment group by 1 order by 2 desc"
    ).fetchall()
    print("\nPrimary segment (one per customer, by priority)")
    for family, count in primary:
        print(f"  {family:<36}{count:>9,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="DuckDB warehouse file built by dbt")
    args = parser.parse_args(argv)
    if not args.db.exists():
        print(f"error: {args.db} does not exist; run `make demo` (or `make generate build`) first", file=sys.stderr)
        return 2

    con = duckdb.connect(str(args.db), read_only=True)
    print("\nRows per layer (tables and views)")
    print(f"  {'layer':<18}{'relations':>10}{'rows':>14}")
    for layer, relations, rows in _rows_per_layer(con):
        if relations:
            print(f"  {layer:<18}{relations:>10}{rows:>14,}")

    print("\nReconciliation: raw = staged + quarantined + duplicate")
    print(f"  {'raw table':<18}{'raw':>11}{'staged':>11}{'quarant.':>10}{'dupl.':>9}{'unacc.':>8}")
    for row in con.execute(
        "select raw_table, raw_rows, staged_rows, quarantined_rows, duplicate_rows, unaccounted_rows "
        "from staging.stg_audit__reconciliation order by raw_rows desc"
    ).fetchall():
        print(f"  {row[0]:<18}{row[1]:>11,}{row[2]:>11,}{row[3]:>10,}{row[4]:>9,}{row[5]:>8,}")

    _print_behaviour(con)
    _print_segments(con)

    print("\nQuarantined rows by reason")
    for table, reason, count in con.execute(
        "select raw_table, quarantine_reason, quarantined_rows from staging.stg_audit__quarantine_reasons "
        "order by raw_table, quarantined_rows desc"
    ).fetchall():
        print(f"  {table:<18}{reason:<28}{count:>9,}")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
