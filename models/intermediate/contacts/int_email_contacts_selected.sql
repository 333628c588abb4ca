{#-
    The contacts activation may email: one row per email address, for a
    customer whose latest email marketing consent is granted at as_of, who has
    an email address, and none of whose identifiers (email or customer id) is
    the subject of a deletion request made up to as_of. When two customers
    share an address (an identity merge refused by the explosion guard), the
    most recently seen one keeps it.
-#}

with

customers as (

    select * from {{ ref('customers') }}

),

identities as (

    select * from {{ ref('int_identifiers_stitched') }}

),

privacy_requests as (

    select * from {{ ref('stg_crm__privacy_requests') }}
    where request_type = 'deletion' and requested_at <= {{ as_of() }}

),

erased_customers as (

    select distinct identities.customer_key
    from privacy_requests
    inner join identities
        on
            (privacy_requests.subject_type = 'email' and identities.identifier_type = 'email')
            or (privacy_requests.subject_type = 'customer_id' and identities.identifier_type = 'user_id')
    where privacy_requests.subject = identities.identifier

),

consented as (

    select
        customers.customer_key,
        customers.email,
        row_number() over (
            partition by customers.email
            order by customers.last_seen_at desc nulls last, customers.customer_key asc
        ) as address_rank
    from customers
    left join erased_customers
        on customers.customer_key = erased_customers.customer_key
    where
        customers.has_email_marketing_consent
        and customers.email is not null
        and erased_customers.customer_key is null

),

final as (

    select
        customer_key as contact_key,
        email
    from consented
    where address_rank = 1

)

select * from final
