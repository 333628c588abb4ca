{#- Raw CRM rows that failed a staging rule, untouched, with the rule they broke. -#}

select
    customer_id,
    email,
    first_name,
    last_name,
    birth_date,
    city,
    country,
    created_at,
    updated_at,
    quarantine_reason
from {{ ref('base_crm__customers') }}
where disposition = 'quarantined'
