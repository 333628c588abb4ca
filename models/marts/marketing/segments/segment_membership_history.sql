{{ config(
    materialized='incremental',
    unique_key='interval_id',
    incremental_strategy=unique_key_strategy(),
    on_schema_change='fail',
) }}

{#-
    Membership intervals, kept across builds: one row per stay of a customer
    in a segment, entered_at to exited_at (null while still a member). Each
    build compares segment_memberships at its as_of with the open intervals:
    a new member opens an interval (entered_at = as_of), a member who is gone
    closes theirs (exited_at = as_of); a customer who leaves and comes back
    has two intervals. Times are the as_of of the build that observed the
    change, so they are as fine as the build schedule (qualified_at carries
    the rule's own time where it knows one).

    Only changed intervals are written (by interval_id: delete+insert or
    merge, per engine, macros/incremental/strategy.sql). A
    build whose as_of is not later than the last recorded change writes
    nothing, so rerunning or reproducing an older as_of never rewrites
    history; a full refresh starts the history again at the build's as_of.
-#}

with

current_members as (

    select * from {{ ref('segment_memberships') }}

),

open_intervals as (

    {% if is_incremental() %}
        select * from {{ this }}
        where exited_at is null
    {% else %}
        select
            cast(null as {{ dbt.type_string() }}) as interval_id,
            cast(null as {{ dbt.type_string() }}) as customer_key,
            cast(null as {{ dbt.type_string() }}) as segment_key,
            cast(null as {{ dbt.type_string() }}) as segment_family,
            cast(null as {{ dbt.type_string() }}) as holdout_group,
            cast(null as {{ dbt.type_timestamp() }}) as qualified_at,
            cast(null as {{ dbt.type_timestamp() }}) as entered_at,
            cast(null as {{ dbt.type_timestamp() }}) as exited_at
        where 1 = 0
    {% endif %}

),

-- the newest entry or exit recorded: a build must be later than it to write
last_change as (

    {% if is_incremental() %}
        select max(case when exited_at is null then entered_at else exited_at end) as last_changed_at
        from {{ this }}
    {% else %}
        select cast(null as {{ dbt.type_timestamp() }}) as last_changed_at
    {% endif %}

),

exited as (

    select
        open_intervals.interval_id,
        open_intervals.customer_key,
        open_intervals.segment_key,
        open_intervals.segment_family,
        open_intervals.holdout_group,
        open_intervals.qualified_at,
        open_intervals.entered_at,
        {{ as_of() }} as exited_at
    from open_intervals
    left join current_members
        on
            open_intervals.customer_key = current_members.customer_key
            and open_intervals.segment_key = current_members.segment_key
    where current_members.customer_key is null

),

entered as (

    select
        {{ dbt.hash(dbt.concat([
            'current_members.customer_key', "'|'", 'current_members.segment_key', "'|" ~ as_of_text() ~ "'"
        ])) }} as interval_id,
        current_members.customer_key,
        current_members.segment_key,
        current_members.segment_family,
        current_members.holdout_group,
        current_members.qualified_at,
        {{ as_of() }} as entered_at,
        cast(null as {{ dbt.type_timestamp() }}) as exited_at
    from current_members
    left join open_intervals
        on
            current_members.customer_key = open_intervals.customer_key
            and current_members.segment_key = open_intervals.segment_key
    where open_intervals.customer_key is null

),

changes as (

    select * from exited
    union all
    select * from entered

),

final as (

    select
        -- ids
        changes.interval_id,
        changes.customer_key,
        changes.segment_key,
        changes.segment_family,
        changes.holdout_group,

        -- timestamps (UTC)
        changes.qualified_at,
        changes.entered_at,
        changes.exited_at,
        changes.exited_at is null as is_current
    from changes
    cross join last_change
    where last_change.last_changed_at is null or {{ as_of() }} > last_change.last_changed_at

)

select * from final
