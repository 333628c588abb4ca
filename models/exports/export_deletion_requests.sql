{#-
    Deletion requests to propagate to every destination: one row per (request,
    email address to erase). A request by email erases that address; a
    request by customer id erases every email address of that customer's
    identity. Not consent-gated: an erasure applies to everyone.
-#}

with

requests as (

    select * from {{ ref('stg_crm__privacy_requests') }}
    where request_type = 'deletion' and requested_at <= {{ as_of() }}

),

identities as (

    select * from {{ ref('int_identifiers_stitched') }}

),

by_email as (

    select
        request_id,
        subject_type,
        subject as email,
        requested_at
    from requests
    where subject_type = 'email'

),

by_customer_id as (

    select
        requests.request_id,
        requests.subject_type,
        emails.identifier as email,
        requests.requested_at
    from requests
    inner join identities as customer_ids
        on customer_ids.identifier_type = 'user_id' and requests.subject = customer_ids.identifier
    inner join identities as emails
        on emails.identifier_type = 'email' and customer_ids.customer_key = emails.customer_key
    where requests.subject_type = 'customer_id'

),

subjects as (

    select * from by_email
    union all
    select * from by_customer_id

),

final as (

    select
        {{ dbt.hash(dbt.concat(['request_id', "'|'", 'email'])) }} as deletion_key,
        request_id,
        subject_type,
        email,
        requested_at
    from subjects

)

select * from final
