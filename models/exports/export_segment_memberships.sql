{#-
    Segment memberships shaped for activation: one row per (contact, segment)
    for the contacts in int_email_contacts_selected (consent granted, not
    erased). Control-group rows are included and flagged (is_holdout), so
    activation can leave them out of the ESP while the warehouse keeps
    measuring them; list removals are computed by activation from what it
    sent before.
-#}

with

contacts as (

    select * from {{ ref('int_email_contacts_selected') }}

),

memberships as (

    select * from {{ ref('segment_memberships') }}

),

definitions as (

    select * from {{ ref('segment_definitions') }}

),

final as (

    select
        -- ids
        contacts.contact_key,
        contacts.email,
        memberships.segment_key,
        memberships.segment_family,

        -- attributes
        definitions.segment_name,
        memberships.holdout_group,
        memberships.is_holdout,

        -- timestamps (UTC)
        memberships.qualified_at,
        memberships.computed_as_of
    from contacts
    inner join memberships
        on contacts.contact_key = memberships.customer_key
    inner join definitions
        on memberships.segment_family = definitions.segment_family

)

select * from final
