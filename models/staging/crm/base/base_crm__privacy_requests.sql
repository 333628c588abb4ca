{#- Ledger of raw privacy requests: one per raw row, with disposition and reason. -#}

with

source as (

    select * from {{ source('raw', 'privacy_requests') }}

),

validated as (

    select
        *,
        {{ clean_text('request_id') }} as clean_request_id,
        case
            when {{ clean_text('request_id') }} is null then 'missing_request_id'
            when {{ clean_text('subject') }} is null then 'missing_subject'
            when lower({{ clean_text('subject_type') }}) not in ('customer_id', 'email')
                or {{ clean_text('subject_type') }} is null then 'unknown_subject_type'
            when lower({{ clean_text('request_type') }}) != 'deletion'
                or {{ clean_text('request_type') }} is null then 'unknown_request_type'
            when requested_at is null then 'missing_requested_at'
        end as quarantine_reason
    from source

),

final as (

    select
        *,
        {{ staging_disposition(
            'clean_request_id',
            'requested_at, subject nulls last, subject_type nulls last, request_type nulls last'
        ) }} as disposition
    from validated

)

select * from final
