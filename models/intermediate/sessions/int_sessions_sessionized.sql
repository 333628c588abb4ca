-- depends_on: {{ ref('base_segment__events') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='keyed_replace',
        keyed_replace_key='device_key',
        keyed_replace_time_column='visit_start',
        keyed_replace_row_column='session_id',
        on_schema_change='fail',
    )
}}

{#-
    Sessions per device (anonymous_id, else user_id), before identity is
    attached. Rules, in order:
      1. A tracker-provided session id (context.sessionId) wins: when an event
         and the one before it on the device both carry one, a new session
         starts exactly when the id changes, whatever the gap.
      2. Otherwise a new session starts after session_timeout_minutes of
         inactivity: a gap of exactly the timeout starts a new session.
      3. A visit longer than session_max_duration_hours is cut into parts of
         that length measured from the visit's first event; each part is a
         session (part boundaries are fixed by the visit start, so recomputing
         a visit always cuts it the same way).

    Incremental: devices with raw events received in the window (any
    disposition, so an event that left staging is also accounted for) are
    re-sessionized from the start of the earliest visit that the new events
    could touch (ended less than one timeout before them, or sharing their
    tracker session id); the keyed_replace strategy swaps that tail.
-#}

{%- set window_start = none -%}
{%- if is_incremental() -%}
    {%- set window_start = incremental_window_start(this, 'last_received_at', var('events_lookback_hours')) -%}
{%- endif -%}
{%- set timeout_ms = var('session_timeout_minutes') * 60 * 1000 -%}
{%- set max_part_seconds = var('session_max_duration_hours') * 3600 -%}

with

events as (

    select
        *,
        coalesce(anonymous_id, {{ dbt.concat(["'user_id:'", 'user_id']) }}) as device_key
    from {{ ref('stg_segment__events') }}

),

{% if window_start is not none -%}
ledger_window as (

    select
        coalesce(
            {{ clean_text('anonymous_id') }},
            {{ dbt.concat(["'user_id:'", clean_text('user_id')]) }}
        ) as device_key,
        occurred_at
    from {{ ref('base_segment__events') }}
    where received_at >= {{ window_start }}

),

touched_devices as (

    select
        device_key,
        min(occurred_at) as first_touched_at
    from ledger_window
    where device_key is not null and occurred_at is not null
    group by 1

),

touched_tracker_sessions as (

    select distinct
        events.device_key,
        events.tracker_session_id
    from events
    inner join touched_devices
        on events.device_key = touched_devices.device_key
    where events.received_at >= {{ window_start }} and events.tracker_session_id is not null

),

-- stored sessions a touched device must recompute: those ending within the
-- timeout before its first touched event, and those sharing a touched tracker
-- session (plain joins: DuckDB < 2 cannot run a correlated subquery in an
-- outer join's condition)
reopened_sessions as (

    select
        touched_devices.device_key,
        existing.visit_start
    from touched_devices
    inner join {{ this }} as existing
        on
            touched_devices.device_key = existing.device_key
            and existing.session_end >= {{ dbt.dateadd(
                'minute', -1 * var('session_timeout_minutes'), 'touched_devices.first_touched_at'
            ) }}

    union all

    select
        touched_tracker_sessions.device_key,
        existing.visit_start
    from touched_tracker_sessions
    inner join {{ this }} as existing
        on
            touched_tracker_sessions.device_key = existing.device_key
            and touched_tracker_sessions.tracker_session_id = existing.tracker_session_id

),

recompute_points as (

    select
        touched_devices.device_key,
        min(
            case
                when reopened_sessions.visit_start < touched_devices.first_touched_at
                    then reopened_sessions.visit_start
                else touched_devices.first_touched_at
            end
        ) as replaced_from
    from touched_devices
    left join reopened_sessions
        on touched_devices.device_key = reopened_sessions.device_key
    group by 1

),

events_to_sessionize as (

    select
        events.*,
        recompute_points.replaced_from
    from events
    inner join recompute_points
        on
            events.device_key = recompute_points.device_key
            and events.occurred_at >= recompute_points.replaced_from

),
{%- else %}
    events_to_sessionize as (

        select
            *,
            cast('1900-01-01' as {{ dbt.type_timestamp() }}) as replaced_from
        from events

    ),
{%- endif %}

sequenced as (

    select
        *,
        lag(occurred_at) over device_timeline as previous_occurred_at,
        lag(tracker_session_id) over device_timeline as previous_tracker_session_id
    from events_to_sessionize
    window device_timeline as (partition by device_key order by occurred_at, event_id)

),

visit_breaks as (

    select
        *,
        case
            when previous_occurred_at is null then 1
            when tracker_session_id is not null and previous_tracker_session_id is not null
                then case when tracker_session_id = previous_tracker_session_id then 0 else 1 end
            -- noqa: disable=LT05
            when {{ whole_datediff('previous_occurred_at', 'occurred_at', 'millisecond') }} >= {{ timeout_ms }}
                then 1
            -- noqa: enable=LT05
            else 0
        end as starts_visit
    from sequenced

),

visits as (

    select
        *,
        sum(starts_visit) over (
            partition by device_key
            order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as visit_number
    from visit_breaks

),

visit_starts as (

    select
        *,
        min(occurred_at) over (partition by device_key, visit_number) as visit_start
    from visits

),

parts as (

    select
        *,
        floor(
            {{ whole_datediff('visit_start', 'occurred_at', 'second') }} / {{ max_part_seconds }}  -- noqa: LT05
        ) as part_number
    from visit_starts

),

session_events as (

    select
        *,
        {{ dbt.hash(dbt.concat([
            'device_key', "'|'",
            dbt.safe_cast('min(occurred_at) over (partition by device_key, visit_number, part_number)', dbt.type_string()),
        ])) }} as session_id
    from parts

),

ranked as (

    select
        *,
        row_number() over (partition by session_id order by occurred_at, event_id) as position_from_start,
        row_number() over (
            partition by session_id, message_type = 'page' order by occurred_at desc, event_id desc
        ) as page_position_from_end,
        row_number() over (
            partition by session_id, message_type = 'page' order by occurred_at, event_id
        ) as page_position_from_start
    from session_events

),

sessions as (

    select
        -- ids
        session_id,
        device_key,
        max(anonymous_id) as anonymous_id,
        max(user_id) as user_id,
        max(tracker_session_id) as tracker_session_id,

        -- timestamps
        min(occurred_at) as session_start,
        max(occurred_at) as session_end,
        min(visit_start) as visit_start,
        max(received_at) as last_received_at,
        min(replaced_from) as replaced_from,

        -- entry context, from the first event
        max(case when position_from_start = 1 then page_referrer end) as referrer,
        max(case when position_from_start = 1 then utm_source end) as utm_source,
        max(case when position_from_start = 1 then utm_medium end) as utm_medium,
        max(case when position_from_start = 1 then utm_campaign end) as utm_campaign,
        max(case when position_from_start = 1 then utm_content end) as utm_content,
        max(case when position_from_start = 1 then utm_term end) as utm_term,
        max(case when position_from_start = 1 then user_agent end) as user_agent,

        -- pages
        max(case when message_type = 'page' and page_position_from_start = 1 then page_path end) as landing_page,
        max(case when message_type = 'page' and page_position_from_end = 1 then page_path end) as exit_page,

        -- counts
        cast(count(*) as {{ dbt.type_bigint() }}) as events,
        cast(sum(case when message_type = 'page' then 1 else 0 end) as {{ dbt.type_bigint() }}) as page_views,
        cast(sum(case when event_name = 'Product Viewed' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as product_views,
        cast(sum(case when event_name = 'Product Added' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as add_to_carts,
        max(case when event_name = 'Checkout Started' then 1 else 0 end) = 1 as has_checkout_started,
        max(case when event_name = 'Order Completed' then 1 else 0 end) = 1 as has_purchased,
        cast(coalesce(sum(case when event_name = 'Order Completed' then revenue end), 0) as decimal(18, 2))
            as revenue
    from ranked
    group by 1, 2

),

{%- set session_columns = [
    'session_id', 'anonymous_id', 'user_id', 'tracker_session_id',
    'session_start', 'session_end', 'visit_start', 'last_received_at',
    'referrer', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term', 'user_agent',
    'landing_page', 'exit_page',
    'events', 'page_views', 'product_views', 'add_to_carts', 'has_checkout_started', 'has_purchased', 'revenue',
] %}

final as (

    {% if window_start is not none -%}
        -- every recomputed device appears, with a marker row (null session_id)
        -- when none of its sessions remain, so keyed_replace clears it
        select
            recompute_points.device_key,
            recompute_points.replaced_from,
            {%- for column in session_columns %}
                sessions.{{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from recompute_points
        left join sessions
            on recompute_points.device_key = sessions.device_key
    {%- else -%}
        select
            device_key,
            replaced_from,
            {%- for column in session_columns %}
                {{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from sessions
    {%- endif %}

)

select * from final
