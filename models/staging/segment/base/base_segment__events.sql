{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        window_replace_column='received_at',
        window_replace_lookback_hours=var('events_lookback_hours'),
        on_schema_change='fail',
    )
}}

{#-
    The event ledger: one row per raw event row, with its disposition
    (staged, duplicate or quarantined) and, when quarantined, the first rule it
    broke. stg_segment__events and stg_segment__events_quarantine read it;
    stg_audit__reconciliation counts it against the raw table.
-#}

{%- set window_start = none -%}
{%- if is_incremental() -%}
    {%- set window_start = incremental_window_start(this, 'received_at', var('events_lookback_hours')) -%}
{%- endif -%}
{%- set ts = adapter.quote('timestamp') -%}

with

source as (

    select * from {{ source('raw', 'events') }}
    {% if window_start is not none -%}
        where received_at >= {{ window_start }} or received_at is null
    {%- endif %}

),

event_names as (

    select * from {{ ref('event_name_map') }}

),

bot_patterns as (

    select * from {{ ref('bot_user_agent_patterns') }}

),

parsed as (

    select
        source.*,
        {{ clean_text('source.message_id') }} as clean_message_id,
        lower({{ clean_text('source.type') }}) as clean_type,
        coalesce(
            {{ clean_text('source.anonymous_id') }},
            {{ clean_text('source.user_id') }}
        ) as identifier,
        {{ json_if_valid('source.context') }} as valid_context,
        (source.properties is not null and not {{ json_is_valid('source.properties') }})
        or (source.traits is not null and not {{ json_is_valid('source.traits') }})
        or (source.context is not null and not {{ json_is_valid('source.context') }})
            as has_malformed_json,
        {{ safe_utc_timestamp('source.' ~ ts) }} as client_timestamp,
        {{ safe_utc_timestamp('source.sent_at') }} as client_sent_at
    from source

),

corrected as (

    select
        parsed.*,
        -- Segment's clock-skew correction: the client clock is off by
        -- (sent_at - received_at); shift the client timestamp by the same.
        case
            when parsed.client_sent_at is null then parsed.client_timestamp
            else {{ shift_back_by_difference(
                'parsed.received_at', 'parsed.client_sent_at', 'parsed.client_timestamp'
            ) }}
        end as occurred_at,
        {{ json_text('parsed.valid_context', 'userAgent') }} as user_agent,
        event_names.spec_event_name
    from parsed
    left join event_names
        on lower(trim(parsed.event)) = event_names.source_event_name

),

-- Match the few distinct user agents against the patterns, not every event.
bot_user_agents as (

    select distinct user_agents.user_agent
    from (select distinct user_agent from corrected) as user_agents
    inner join bot_patterns
        on {{ dbt.position('lower(bot_patterns.pattern)', 'lower(user_agents.user_agent)') }} > 0

),

-- Inhuman rate: too many distinct messages from one identifier in one minute.
-- Minutes are complete inside the window because it starts on a whole hour.
over_rate_minutes as (

    select
        identifier,
        {{ dbt.date_trunc('minute', 'received_at') }} as received_minute
    from corrected
    where identifier is not null and clean_message_id is not null
    group by 1, 2
    having count(distinct clean_message_id) > {{ var('bot_max_events_per_minute') }}

),

validated as (

    select
        corrected.*,
        case
            when corrected.clean_message_id is null
                then 'missing_message_id'
            when corrected.received_at is null
                then 'missing_received_at'
            when corrected.clean_type is null
                or corrected.clean_type not in ('track', 'page', 'identify', 'screen')
                then 'unknown_message_type'
            when corrected.has_malformed_json
                then 'malformed_json'
            when corrected.client_timestamp is null
                then 'invalid_timestamp'
            when corrected.occurred_at > {{ dbt.dateadd(
                    'minute', var('event_max_future_minutes'), 'corrected.received_at'
                ) }}
                then 'timestamp_in_future'
            when corrected.occurred_at < {{ dbt.dateadd(
                    'day', -1 * var('event_max_age_days'), 'corrected.received_at'
                ) }}
                then 'timestamp_too_old'
            when corrected.identifier is null
                then 'missing_identifier'
            when corrected.clean_type = 'track' and corrected.spec_event_name is null
                then 'unknown_event_name'
            when bot_user_agents.user_agent is not null
                then 'bot_user_agent'
            when over_rate_minutes.identifier is not null
                then 'bot_event_rate'
        end as quarantine_reason
    from corrected
    left join bot_user_agents
        on corrected.user_agent = bot_user_agents.user_agent
    left join over_rate_minutes
        on
            corrected.identifier = over_rate_minutes.identifier
            and {{ dbt.date_trunc('minute', 'corrected.received_at') }}
            = over_rate_minutes.received_minute

),

{% if window_start is not none -%}
-- Valid copies processed by earlier runs, received before this window: a copy
-- in the window with the same message_id is a duplicate of them. Only the
-- window's message ids are looked up (a semi-join), not every earlier id.
earlier_valid_copies as (

    select distinct earlier.event_id
    from {{ this }} as earlier
    where
        earlier.received_at < {{ window_start }}
        and earlier.disposition in ('staged', 'duplicate')
        and earlier.event_id in (select validated.clean_message_id from validated)

),
{%- endif %}

dispositions as (

    select
        *,
        {{ staging_disposition(
            'clean_message_id',
            'received_at, sent_at nulls last, ' ~ ts ~ ', properties nulls last, context nulls last, type, '
            ~ 'event nulls last, anonymous_id nulls last, user_id nulls last, traits nulls last'
        ) }} as disposition_in_window
    from validated

),

final as (

    select
        -- raw columns, untouched
        dispositions.message_id,
        dispositions.type,
        dispositions.event,
        dispositions.anonymous_id,
        dispositions.user_id,
        dispositions.{{ ts }},
        dispositions.sent_at,
        dispositions.received_at,
        dispositions.properties,
        dispositions.traits,
        dispositions.context,

        -- derived
        dispositions.clean_message_id as event_id,
        dispositions.occurred_at,
        dispositions.spec_event_name as event_name,

        -- outcome; in an incremental run a valid copy processed by an earlier
        -- run was received before this window, so a copy here is a duplicate
        {% if window_start is not none -%}
            case
                when dispositions.disposition_in_window = 'staged' and earlier_valid_copies.event_id is not null
                    then 'duplicate'
                else dispositions.disposition_in_window
            end
        {%- else -%}
            dispositions.disposition_in_window
        {%- endif %} as disposition,
        dispositions.quarantine_reason
    from dispositions
    {% if window_start is not none -%}
        left join earlier_valid_copies
            on dispositions.clean_message_id = earlier_valid_copies.event_id
    {%- endif %}

)

select * from final
