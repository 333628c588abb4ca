{#- Raw event rows that failed a staging rule, untouched, with the rule they broke. -#}

with

ledger as (

    select * from {{ ref('base_segment__events') }}

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
