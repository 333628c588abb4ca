"""Land raw events in several loads, to test incremental builds against a full refresh."""

from __future__ import annotations

from datetime import timedelta

import duckdb

LATE_PERCENT = 5
LATE_WITHIN = timedelta(hours=12)  # well inside the default 24 h lookback


def assign_loads(warehouse, cut_offs, forced: dict[str, int] | None = None) -> dict[int, tuple[int, int]]:
    """Move raw.events aside and number each row's load; returns {load: (rows, late rows)}.

    `forced` pins given message ids to a load (to stage a specific late arrival)."""
    first_cut, second_cut = (f"timestamp '{c:%Y-%m-%d %H:%M:%S}'" for c in cut_offs)
    late = f"hash(message_id, received_at, properties) % 100 < {LATE_PERCENT}"
    within = f"interval {int(LATE_WITHIN.total_seconds())} second"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f"""
            create table raw.events_to_load as
            select
                *,
                case
                    when received_at < {first_cut} then
                        case when received_at >= {first_cut} - {within} and {late} then 1 else 0 end
                    when received_at < {second_cut} then
                        case when received_at >= {second_cut} - {within} and {late} then 2 else 1 end
                    else 2
                end as load_number,
                case
                    when received_at < {first_cut} then 0
                    when received_at < {second_cut} then 1
                    else 2
                end as received_in_load
            from raw.events
            """
        )
        for message_id, load in (forced or {}).items():
            con.execute("update raw.events_to_load set load_number = ? where message_id = ?", [load, message_id])
        con.execute("delete from raw.events")
        rows = con.execute(
            "select load_number, count(*), count(*) filter (where received_in_load < load_number) "
            "from raw.events_to_load group by 1"
        ).fetchall()
    return {load: (count, late_rows) for load, count, late_rows in rows}


def land(warehouse, load: int) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into raw.events select * exclude (load_number, received_in_load) "
            "from raw.events_to_load where load_number = ?",
            [load],
        )


def differences(left, right, relation: str, schema: str = "staging", exclude: tuple[str, ...] = ()) -> tuple[int, int]:
    """Rows only in left and rows only in right (as multisets)."""
    with duckdb.connect(str(left)) as con:
        con.execute(f"attach '{right}' as other (read_only)")
        mine, theirs = f"{schema}.{relation}", f"other.{schema}.{relation}"
        columns = "*" if not exclude else f"* exclude ({', '.join(exclude)})"
        return con.execute(
            f"select (select count(*) from (select {columns} from {mine} except all select {columns} from {theirs})),"
            f"       (select count(*) from (select {columns} from {theirs} except all select {columns} from {mine}))"
        ).fetchone()


def raw_rows(source) -> dict[str, list[str]]:
    """Every table of the DuckDB file's raw schema: name -> its rows as sorted reprs (order-free)."""
    with duckdb.connect(str(source), read_only=True) as con:
        names = [row[0] for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
        ).fetchall()]
        return {name: sorted(map(repr, con.execute(f'select * from raw."{name}"').fetchall())) for name in names}
