{#- Ledger of raw ESP webhook rows: one per raw row, with disposition and reason. -#}

with

source as (

    select * from {{ source('raw', 'email_events') }}

),

validated as (

    select
        *,
        {{ clean_text('event_id') }} as clean_event_id,
        case
            when {{ clean_text('event_id') }} is null then 'missing_event_id'
            when lower({{ clean_text('event_type') }}) not in (
                    'delivered', 'opened', 'clicked', 'bounced', 'unsubscribed', 'spam_complaint'
                ) or {{ clean_text('event_type') }} is null then 'unknown_email_event_type'
            when not {{ is_valid_email(normalise_email('email')) }} then 'invalid_email'
            when occurred_at is null then 'missing_occurred_at'
        end as quarantine_reason
    from source

),

final as (

    select
        *,
        -- ESPs retry webhooks: keep the first delivery of each event
        {{ staging_disposition(
            'clean_event_id',
            'occurred_at, email, event_type, campaign_id nulls last, url nulls last, bounce_type nulls last'
        ) }} as disposition
    from validated

)

select * from final
