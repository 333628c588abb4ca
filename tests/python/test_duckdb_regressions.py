"""Engine bugs that would silently corrupt results, checked on the installed DuckDB.

pyproject.toml pins DuckDB below 2.0.0, which drops the filter of a CTE that
is read twice (here: open intervals of the membership history), so a
customer re-entering a segment was never given a new interval.
"""

import duckdb

REUSED_CTE_WITH_FILTER = """
with history as (select * from h),
open_intervals as (select * from history where exited_at is null),
last_change as (select max(coalesce(exited_at, timestamp '2026-11-19')) as at from history),
entered as (
    select current_members.k
    from current_members
    left join open_intervals on current_members.k = open_intervals.k
    where open_intervals.k is null
)
select entered.k from entered cross join last_change
"""


def test_filter_on_a_cte_read_twice_is_kept() -> None:
    con = duckdb.connect()
    con.execute(
        "create table h as select * from (values ('k1', null::timestamp), "
        "('k2', timestamp '2026-11-19'), ('k3', null::timestamp)) t(k, exited_at)"
    )
    con.execute("create table current_members as select * from (values ('k2'), ('k3')) t(k)")
    # k2's only interval is closed, so k2 re-enters; k3 is still open.
    assert con.sql(REUSED_CTE_WITH_FILTER).fetchall() == [("k2",)], f"DuckDB {duckdb.__version__}"
