"""Invariant 4: the same raw events built in several incremental batches equal one full refresh.

Raw events land in three loads split at two cut-offs on received_at. A share of
the rows received shortly before a cut-off is held back and lands with the next
load (late-landing data, inside the lookback window), and duplicate deliveries
straddle the cut-offs, so the later loads must re-decide earlier rows.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from dbt_runner import query, run_dbt

from datagen import write_duckdb

pytestmark = pytest.mark.dbt

EVENT_MODELS = ["base_segment__events", "stg_segment__events", "stg_segment__events_quarantine"]
LATE_PERCENT = 5
LATE_WITHIN = timedelta(hours=36)  # well inside the default 72 h lookback


def _assign_loads(warehouse, cut_offs) -> dict[int, tuple[int, int]]:
    """Move raw.events aside and number each row's load; returns {load: (rows, late rows)}."""
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
        con.execute("delete from raw.events")
        rows = con.execute(
            "select load_number, count(*), count(*) filter (where received_in_load < load_number) "
            "from raw.events_to_load group by 1"
        ).fetchall()
    return {load: (count, late_rows) for load, count, late_rows in rows}


def _land(warehouse, load: int) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into raw.events select * exclude (load_number, received_in_load) "
            "from raw.events_to_load where load_number = ?",
            [load],
        )


def _differences(left, right, relation: str) -> tuple[int, int]:
    """Rows only in left and rows only in right (as multisets)."""
    with duckdb.connect(str(left)) as con:
        con.execute(f"attach '{right}' as other (read_only)")
        mine, theirs = f"staging.{relation}", f"other.staging.{relation}"
        return con.execute(
            f"select (select count(*) from (select * from {mine} except all select * from {theirs})),"
            f"       (select count(*) from (select * from {theirs} except all select * from {mine}))"
        ).fetchone()


def test_incremental_batches_equal_full_refresh(tmp_path, small_dataset, built_warehouse):
    full_warehouse, _, full_result = built_warehouse
    full_result.check()

    warehouse = tmp_path / "incremental.duckdb"
    write_duckdb(small_dataset, warehouse, schema="raw", mode="replace")
    first, last = query(warehouse, "select min(received_at), max(received_at) from raw.events")[0]
    loads = _assign_loads(warehouse, [first + (last - first) * 0.5, first + (last - first) * 0.8])
    assert sorted(loads) == [0, 1, 2]
    assert loads[1][1] > 0 and loads[2][1] > 0, "later loads must carry late-landing rows"

    run_dbt(["seed"], warehouse, tmp_path).check()
    for load in sorted(loads):
        _land(warehouse, load)
        run_dbt(["run", "--select", *EVENT_MODELS], warehouse, tmp_path).check()

    for relation in EVENT_MODELS:
        assert _differences(warehouse, full_warehouse, relation) == (0, 0), relation


def test_without_lookback_late_rows_are_missed(tmp_path, small_dataset):
    """Guard on the test above: with no lookback, rows that land late are never processed, so the
    same loads give a different ledger. The equality test can therefore fail."""
    warehouse = tmp_path / "append.duckdb"
    write_duckdb(small_dataset, warehouse, schema="raw", mode="replace")
    first, last = query(warehouse, "select min(received_at), max(received_at) from raw.events")[0]
    loads = _assign_loads(warehouse, [first + (last - first) * 0.5, first + (last - first) * 0.8])
    run_dbt(["seed"], warehouse, tmp_path).check()
    for load in sorted(loads):
        _land(warehouse, load)
        run_dbt(
            ["run", "--select", "base_segment__events"], warehouse, tmp_path, vars_={"events_lookback_hours": 0}
        ).check()
    (duplicates_staged,) = query(
        warehouse,
        "select count(*) from (select event_id from staging.base_segment__events "
        "where disposition = 'staged' group by 1 having count(*) > 1)",
    )[0]
    (late_rows_lost,) = query(
        warehouse,
        "select (select count(*) from raw.events) - (select count(*) from staging.base_segment__events)",
    )[0]
    assert duplicates_staged > 0 or late_rows_lost > 0
