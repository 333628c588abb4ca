{{ config(error_if='>0', fail_calc='count(*)') }}

{#-
    Every segment of the membership history has one row per day from its
    first entry to as_of's date. A failure means the history is longer than
    the date spine (var segment_daily_max_days): raise the var.
-#}

with

history as (

    select * from {{ ref('segment_membership_history') }}
    where entered_at <= {{ as_of() }}

),

sizes as (

    select * from {{ ref('segment_sizes_daily') }}

),

expected as (

    select
        segment_key,
        cast(min(entered_at) as date) as first_date,
        {{ whole_datediff(
            'cast(min(entered_at) as date)', 'cast(' ~ as_of() ~ ' as date)', 'day'
        ) }} + 1 as day_count
    from history
    group by 1

),

found as (

    select
        segment_key,
        min(date_day) as first_date,
        max(date_day) as last_date,
        count(*) as day_count
    from sizes
    group by 1

)

select
    expected.segment_key,
    expected.first_date as expected_first_date,
    expected.day_count as expected_day_count,
    found.first_date,
    found.last_date,
    found.day_count,
    'raise var segment_daily_max_days' as fix
from expected
left join found
    on expected.segment_key = found.segment_key
where
    found.segment_key is null
    or found.first_date != expected.first_date
    or found.last_date != cast({{ as_of() }} as date)
    or found.day_count != expected.day_count
