"""Invariant 4: the same raw events built in several incremental batches equal one full refresh.

Raw events land in three loads split at two cut-offs on received_at. A share of
the rows received shortly before a cut-off is held back and lands with the next
load (late-landing data, inside the lookback window), and duplicate deliveries
straddle the cut-offs, so the later loads must re-decide earlier rows.
"""

from __future__ import annotations

import pytest

from dbt_runner import query, run_dbt
from raw_loads import assign_loads, differences, land

from datagen import write_duckdb

pytestmark = pytest.mark.dbt

EVENT_MODELS = ["base_segment__events", "stg_segment__events", "stg_segment__events_quarantine"]
def test_incremental_batches_equal_full_refresh(tmp_path, small_dataset, built_warehouse):
    full_warehouse, _, full_result = built_warehouse
    full_result.check()

    warehouse = tmp_path / "incremental.duckdb"
    write_duckdb(small_dataset, warehouse, schema="raw", mode="replace")
    first, last = query(warehouse, "select min(received_at), max(received_at) from raw.events")[0]
    loads = assign_loads(warehouse, [first + (last - first) * 0.5, first + (last - first) * 0.8])
    assert sorted(loads) == [0, 1, 2]
    assert loads[1][1] > 0 and loads[2][1] > 0, "later loads must carry late-landing rows"

    run_dbt(["seed"], warehouse, tmp_path).check()
    for load in sorted(loads):
        land(warehouse, load)
        run_dbt(["run", "--select", *EVENT_MODELS], warehouse, tmp_path).check()

    for relation in EVENT_MODELS:
        assert differences(warehouse, full_warehouse, relation) == (0, 0), relation


def test_without_lookback_late_rows_are_missed(tmp_path, small_dataset):
    """Guard on the test above: with no lookback, rows that land late are never processed, so the
    same loads give a different ledger. The equality test can therefore fail."""
    warehouse = tmp_path / "append.duckdb"
    write_duckdb(small_dataset, warehouse, schema="raw", mode="replace")
    first, last = query(warehouse, "select min(received_at), max(received_at) from raw.events")[0]
    loads = assign_loads(warehouse, [first + (last - first) * 0.5, first + (last - first) * 0.8])
    run_dbt(["seed"], warehouse, tmp_path).check()
    for load in sorted(loads):
        land(warehouse, load)
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
