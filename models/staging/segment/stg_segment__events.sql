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
    Staged events: the first received valid copy of every message, typed and
    normalised, times in UTC and corrected for client clock skew.
-#}

{%- set window_start = none -%}
{%- if is_incremental() -%}
    {%- set window_start = incremental_window_start(this, 'received_at', var('events_lookback_hours')) -%}
{%- endif -%}
{%- set ts = adapter.quote('timestamp') -%}

with

ledger as (

    select * from {{ ref('base_segment__events') }}
    where
        disposition = 'staged'
    {% if window_start is not none -%}
            and received_at >= {{ window_start }}
        {%- endif %}

),

renamed as (

    select
        -- ids
        event_id,
        {{ clean_text('anonymous_id') }} as anonymous_id,
        {{ clean_text('user_id') }} as user_id,
        {{ json_text('context', 'sessionId') }} as tracker_session_id,

        -- event
        lower(trim(type)) as message_type,
        event_name,
        {{ clean_text('event') }} as source_event_name,

        -- timestamps (UTC)
        occurred_at,
        {{ safe_utc_timestamp(ts) }} as client_timestamp,
        {{ safe_utc_timestamp('sent_at') }} as client_sent_at,
        received_at,

        -- identify traits
        {{ normalise_email(json_text('traits', 'email')) }} as email,
        {{ clean_text(json_text('traits', 'first_name')) }} as first_name,
        {{ clean_text(json_text('traits', 'last_name')) }} as last_name,

        -- commerce properties
        {%- set product_id_text = 'coalesce(' ~ json_text('properties', 'product_id')
            ~ ', ' ~ json_text('properties', 'sku') ~ ')' %}
        {{ canonical_product_id(product_id_text) }} as product_id,
        {{ clean_text(json_text('properties', 'name')) }} as product_name,
        lower({{ clean_text(json_text('properties', 'category')) }}) as category,
        {{ try_cast(json_text('properties', 'price'), 'decimal(18,2)') }} as price,
        {{ try_cast(json_text('properties', 'quantity'), dbt.type_int()) }} as quantity,
        {{ clean_text(json_text('properties', 'order_id')) }} as order_id,
        {{ try_cast(json_text('properties', 'revenue'), 'decimal(18,2)') }} as revenue,
        {{ clean_text(json_text('properties', 'query')) }} as search_query,

        -- page and campaign context
        {{ json_text('context', 'page.url') }} as page_url,
        {{ json_text('context', 'page.path') }} as page_path,
        {{ json_text('context', 'page.referrer') }} as page_referrer,
        {{ json_text('context', 'page.title') }} as page_title,
        lower({{ clean_text(json_text('context', 'campaign.source')) }}) as utm_source,
        lower({{ clean_text(json_text('context', 'campaign.medium')) }}) as utm_medium,
        {{ clean_text(json_text('context', 'campaign.name')) }} as utm_campaign,
        {{ clean_text(json_text('context', 'campaign.content')) }} as utm_content,
        {{ clean_text(json_text('context', 'campaign.term')) }} as utm_term,
        {{ json_text('context', 'userAgent') }} as user_agent,
        {{ json_text('context', 'ip') }} as ip_address,

        -- event properties, for fields not promoted to columns (the full raw
        -- traits and context stay in base_segment__events)
        properties
    from ledger

),

final as (

    select
        *,
        -- seconds the client clock was ahead of the server (negative: behind)
        {{ whole_datediff('received_at', 'client_sent_at', 'second') }}
            as clock_skew_seconds
    from renamed

)

select * from final
