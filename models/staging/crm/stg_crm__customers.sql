{#-
    CRM customer records, latest version of each, normalised. One person can
    still have several records: identity stitching merges them.
-#}

with

ledger as (

    select * from {{ ref('base_crm__customers') }}
    where disposition = 'staged'

),

normalised as (

    select
        clean_customer_id as customer_id,
        {{ normalise_email('email') }} as email_normalised,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        {{ safe_date('birth_date') }} as birth_date,
        {{ clean_text('city') }} as city,
        upper({{ clean_text('country') }}) as country_code,
        created_at,
        updated_at
    from ledger

),

final as (

    select
        -- ids
        customer_id,

        -- contact
        case when {{ is_valid_email('email_normalised') }} then email_normalised end as email,
        {{ is_valid_email('email_normalised') }} as is_email_valid,

        -- person
        first_name,
        last_name,
        birth_date,
        city,
        country_code,

        -- timestamps
        created_at,
        updated_at
    from normalised

)

select * from final
