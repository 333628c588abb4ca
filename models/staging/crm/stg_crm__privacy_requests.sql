{#- Data-subject deletion requests, one per request, normalised. -#}

with

ledger as (

    select * from {{ ref('base_crm__privacy_requests') }}
    where disposition = 'staged'

),

final as (

    select
        -- ids
        clean_request_id as request_id,
        lower(trim(subject_type)) as subject_type,
        case
            when lower(trim(subject_type)) = 'email' then {{ normalise_email('subject') }}
            else {{ clean_text('subject') }}
        end as subject,

        -- request
        lower(trim(request_type)) as request_type,

        -- timestamps
        requested_at
    from ledger

)

select * from final
