{#-
    Daily size of every segment, from segment_membership_history: one row per
    (segment_key, day) from the segment's first entry to as_of's date.

    Each interval is a +1 on the UTC date it was entered and a -1 on the date
    it was exited; members is the running sum of those changes. That is the
    count at the end of the day (intervals entered before the next midnight
    and not exited before it), and on as_of's own date (the partial day) the
    count at as_of. A day without changes carries the size forward: the spine
    of segments x days is joined to the daily changes, never to the intervals,
    so the cost grows with segments x days plus intervals, not their product.

    The history is read as it was known at as_of: intervals entered after
    as_of are left out and exits after as_of are still open.
-#}

with

history as (

    select * from {{ ref('segment_membership_history') }}

),

day_numbers as (

    {{ dbt.generate_series(var('segment_daily_max_days')) }}

),

intervals as (

    select
        segment_key,
        segment_family,
        holdout_group,
        entered_at,
        case when exited_at <= {{ as_of() }} then exited_at end as exited_at
    from history
    where entered_at <= {{ as_of() }}

),

changes as (

    select
        segment_key,
        segment_family,
        cast(entered_at as date) as date_day,
        1 as member_change,
        case when holdout_group = 'treatment' then 1 else 0 end as treatment_change,
        case when holdout_group = 'control' then 1 else 0 end as control_change,
        1 as is_entry,
        0 as is_exit
    from intervals

    union all

    select
        segment_key,
        segment_family,
        cast(exited_at as date) as date_day,
        -1 as member_change,
        case when holdout_group = 'treatment' then -1 else 0 end as treatment_change,
        case when holdout_group = 'control' then -1 else 0 end as control_change,
        0 as is_entry,
        1 as is_exit
    from intervals
    where exited_at is not null

),

daily_changes as (

    select
        segment_key,
        date_day,
        sum(member_change) as member_change,
        sum(treatment_change) as treatment_change,
        sum(control_change) as control_change,
        sum(is_entry) as entered,
        sum(is_exit) as exited
    from changes
    group by 1, 2

),

segments as (

    select
        segment_key,
        segment_family,
        min(date_day) as first_date
    from changes
    group by 1, 2

),

spine as (

    select
        segments.segment_key,
        segments.segment_family,
        cast(
            {{ dbt.dateadd('day', 'day_numbers.generated_number - 1', 'segments.first_date') }} as date
        ) as date_day
    from segments
    cross join day_numbers
    where
        day_numbers.generated_number - 1
        <= {{ whole_datediff('segments.first_date', 'cast(' ~ as_of() ~ ' as date)', 'day') }}

),

running as (

    select
        spine.segment_key,
        spine.segment_family,
        spine.date_day,
        sum(coalesce(daily_changes.member_change, 0)) over (
            partition by spine.segment_key
            order by spine.date_day
            rows between unbounded preceding and current row
        ) as members,
        sum(coalesce(daily_changes.treatment_change, 0)) over (
            partition by spine.segment_key
            order by spine.date_day
            rows between unbounded preceding and current row
        ) as treatment_members,
        sum(coalesce(daily_changes.control_change, 0)) over (
            partition by spine.segment_key
            order by spine.date_day
            rows between unbounded preceding and current row
        ) as control_members,
        coalesce(daily_changes.entered, 0) as entered,
        coalesce(daily_changes.exited, 0) as exited
    from spine
    left join daily_changes
        on
            spine.segment_key = daily_changes.segment_key
            and spine.date_day = daily_changes.date_day

),

final as (

    select
        -- ids
        segment_key,
        segment_family,
        date_day,

        -- sizes
        cast(members as {{ dbt.type_bigint() }}) as members,
        cast(treatment_members as {{ dbt.type_bigint() }}) as treatment_members,
        cast(control_members as {{ dbt.type_bigint() }}) as control_members,

        -- changes that day
        cast(entered as {{ dbt.type_bigint() }}) as entered,
        cast(exited as {{ dbt.type_bigint() }}) as exited,

        -- flags
        date_day = cast({{ as_of() }} as date) as is_partial_day,

        -- timestamps (UTC)
        {{ as_of() }} as computed_as_of
    from running

)

select * from final
