{#- Raw order rows that failed a staging rule, untouched, with the rule they broke. -#}

select
    order_id,
    customer_id,
    email,
    anonymous_id,
    status,
    currency,
    total_amount,
    discount_amount,
    shipping_amount,
    created_at,
    updated_at,
    quarantine_reason
from {{ ref('base_shop__orders') }}
where disposition = 'quarantined'
