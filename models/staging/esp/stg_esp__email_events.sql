{#- ESP engagement events (webhooks), one per event, emails normalised. -#}

with

ledger as (

    select * from {{ ref('base_esp__email_events') }}
    where disposition = 'staged'

),

final as (

    select
        -- ids
        clean_event_id as email_event_id,
        {{ normalise_email('email') }} as email,
        {{ clean_text('campaign_id') }} as campaign_id,

        -- event
        lower(trim(event_type)) as email_event_type,
        {{ clean_text('url') }} as clicked_url,
        lower({{ clean_text('bounce_type') }}) as bounce_type,

        -- timestamps
        occurred_at
    from ledger

)

select * from final
