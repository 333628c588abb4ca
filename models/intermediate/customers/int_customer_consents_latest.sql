{#-
    Consent per customer and channel at as_of: the latest change (grant or
    withdrawal) up to as_of recorded for any of the customer's identifiers
    (customer id or email). Changes after as_of are ignored, so a build at a
    past as_of sees the consent of that moment. Ties at the same instant resolve to withdrawn: when in doubt, do
    not contact.
-#}

with

consents as (

    select * from {{ ref('stg_crm__consents') }}
    where occurred_at <= {{ as_of() }}

),

identities as (

    select * from {{ ref('int_identifiers_stitched') }}

),

keyed as (

    select
        identities.customer_key,
        consents.channel,
        consents.consent_status,
        consents.consent_source,
        consents.occurred_at,
        consents.consent_id
    from consents
    inner join identities
        on
            identities.identifier_type
            = case consents.subject_type when 'customer_id' then 'user_id' else 'email' end
            and consents.subject = identities.identifier

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_key, channel
            order by occurred_at desc, case consent_status when 'withdrawn' then 0 else 1 end, consent_id asc
        ) as recency_rank
    from keyed

),

final as (

    select
        customer_key,
        channel,
        consent_status,
        consent_source,
        occurred_at as consent_changed_at
    from ranked
    where recency_rank = 1

)

select * from final
