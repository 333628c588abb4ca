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
    Raw event rows that failed a staging rule, untouched, with the rule they
    broke. Incremental like the ledger it reads: the same trailing window is
    replaced (rows without received_at are always in it).
-#}
{%- set window_start = none -%}
{%- if is_incremental() -%}
    {%- set window_start = incremental_window_start(this, 'received_at', var('events_lookback_hours')) -%}
{%- endif -%}

with

ledger as (

    select * from {{ ref('base_segment__events') }}
    {% if window_start is not none -%}
        where received_at >= {{ window_start }} or received_at is null
    {%- endif %}

),

final as (

    select
        message_id,
        type,
        event,
        anonymous_id,
        user_id,
        {{ adapter.quote('timestamp') }},
        sent_at,
        received_at,
        properties,
        traits,
        context,
        quarantine_reason
    from ledger
    where disposition = 'quarantined'

)

select * from final
