{#- Ledger of raw consent changes: one per raw row, with disposition and reason. -#}

with

source as (

    select * from {{ source('raw', 'consents') }}

),

validated as (

    select
        *,
        {{ clean_text('consent_id') }} as clean_consent_id,
        case
            when {{ clean_text('consent_id') }} is null then 'missing_consent_id'
            when {{ clean_text('subject') }} is null then 'missing_subject'
            when lower({{ clean_text('subject_type') }}) not in ('customer_id', 'email')
                or {{ clean_text('subject_type') }} is null then 'unknown_subject_type'
            when lower({{ clean_text('status') }}) not in ('granted', 'withdrawn')
                or {{ clean_text('status') }} is null then 'unknown_consent_status'
            when lower({{ clean_text('channel') }}) not in ('email', 'sms')
                or {{ clean_text('channel') }} is null then 'unknown_channel'
            when occurred_at is null then 'missing_occurred_at'
        end as quarantine_reason
    from source

),

final as (

    select
        *,
        {{ staging_disposition(
            'clean_consent_id', 'occurred_at, subject, subject_type, status, channel, source nulls last'
        ) }} as disposition
    from validated

)

select * from final
