{#- Consent changes, one per change, normalised. Email subjects are lowercased and trimmed. -#}

with

ledger as (

    select * from {{ ref('base_crm__consents') }}
    where disposition = 'staged'

),

final as (

    select
        -- ids
        clean_consent_id as consent_id,
        lower(trim(subject_type)) as subject_type,
        case
            when lower(trim(subject_type)) = 'email' then {{ normalise_email('subject') }}
            else {{ clean_text('subject') }}
        end as subject,

        -- consent
        lower(trim(channel)) as channel,
        lower(trim(status)) as consent_status,
        lower({{ clean_text('source') }}) as consent_source,

        -- timestamps
        occurred_at
    from ledger

)

select * from final
