"""Sessions and identity built in incremental loads equal a full refresh.

Besides the generated traffic, two devices are staged by hand:
- a late event that lands one load after its neighbours and fills the gap
  between two sessions, so the two must become one;
- an anonymous device whose identify arrives two loads later, so its earlier
  sessions must move to the customer retroactively.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import duckdb
import pytest

from dbt_runner import query, run_dbt
from raw_loads import assign_loads, differences, land

from datagen import write_duckdb

pytestmark = pytest.mark.dbt

MODELS = ["+sessions", "+customers"]
AS_OF = {"as_of": "2026-11-20 12:00:00"}  # the dataset's end time: windows are the same in both builds


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _page(message_id: str, device: str, at: datetime, received: datetime, user_id: str | None = None) -> tuple:
    context = '{"page": {"path": "/", "url": "https://shop.example.com/"}, "userAgent": "Mozilla/5.0 (X11; Linux x86_64)"}'
    return (message_id, "page", None, device, user_id, _iso(at), _iso(received), received, "{}", None, context)


def _add_staged_devices(warehouse, cut_offs: list[datetime]) -> dict[str, int]:
    first_cut, second_cut = cut_offs
    joiner_start = first_cut - timedelta(hours=3)
    anon_start = first_cut - timedelta(hours=5)
    rows = [
        # two sessions 50 minutes apart, then the event that bridges them lands late
        _page("lj-1", "dev-late-joiner", joiner_start, joiner_start + timedelta(seconds=1)),
        _page("lj-3", "dev-late-joiner", joiner_start + timedelta(minutes=50), joiner_start + timedelta(minutes=50, seconds=1)),
        _page("lj-2", "dev-late-joiner", joiner_start + timedelta(minutes=25), joiner_start + timedelta(minutes=25, seconds=1)),
        # anonymous browsing, identified two loads later
        _page("li-1", "dev-late-identify", anon_start, anon_start + timedelta(seconds=1)),
        _page("li-2", "dev-late-identify", anon_start + timedelta(minutes=5), anon_start + timedelta(minutes=5, seconds=1)),
    ]
    identify_at = second_cut + timedelta(hours=1)
    identify = (
        "li-3", "identify", None, "dev-late-identify", "C-LATE-IDENTIFY", _iso(identify_at),
        _iso(identify_at), identify_at, None, '{"email": "late.identify@example.com"}', "{}",
    )
    with duckdb.connect(str(warehouse)) as con:
        con.executemany("insert into raw.events values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [*rows, identify])
    # lj-2 was received before the first cut-off but lands with the second load
    return {"lj-2": 1}


def test_sessions_incremental_equal_full_refresh(tmp_path, small_dataset):
    incremental = tmp_path / "incremental.duckdb"
    full = tmp_path / "full.duckdb"
    write_duckdb(small_dataset, incremental, schema="raw", mode="replace")
    first, last = query(incremental, "select min(received_at), max(received_at) from raw.events")[0]
    cut_offs = [first + (last - first) * 0.5, first + (last - first) * 0.8]
    forced = _add_staged_devices(incremental, cut_offs)
    shutil.copy(incremental, full)

    run_dbt(["seed"], full, tmp_path / "full").check()
    run_dbt(["run", "--full-refresh", "--select", *MODELS], full, tmp_path / "full", vars_=AS_OF).check()

    loads = assign_loads(incremental, cut_offs, forced=forced)
    assert loads[1][1] > 0 and loads[2][1] > 0
    run_dbt(["seed"], incremental, tmp_path / "incremental").check()
    for load in sorted(loads):
        land(incremental, load)
        run_dbt(["run", "--select", *MODELS], incremental, tmp_path / "incremental", vars_=AS_OF).check()
        if load == 0:
            # before the late event lands the device has two sessions
            assert query(
                incremental, "select count(*) from marts.sessions where device_key = 'dev-late-joiner'"
            ) == [(2,)]

    assert query(incremental, "select count(*), sum(events) from marts.sessions where device_key = 'dev-late-joiner'") == [(1, 3)]
    ((identified_sessions,),) = query(
        incremental,
        """
        select count(*) from marts.sessions
        where device_key = 'dev-late-identify'
          and customer_key = (
              select customer_key from intermediate.int_identifiers_stitched
              where identifier_type = 'user_id' and identifier = 'C-LATE-IDENTIFY'
          )
        """,
    )
    assert identified_sessions == 2  # the anonymous session and the identify session

    assert differences(incremental, full, "int_sessions_sessionized", "intermediate", exclude=("replaced_from",)) == (0, 0)
    # the identity map (integer label propagation) after three loads equals the one built at once
    assert differences(incremental, full, "int_identifiers_stitched", "intermediate") == (0, 0)
    for relation in ["sessions", "customers"]:
        assert differences(incremental, full, relation, "marts") == (0, 0), relation
