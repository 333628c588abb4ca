{#- Raw catalogue rows that failed a staging rule, untouched, with the rule they broke. -#}

select
    product_id,
    name,
    category,
    price,
    currency,
    image_url,
    product_url,
    stock_quantity,
    updated_at,
    quarantine_reason
from {{ ref('base_shop__products') }}
where disposition = 'quarantined'
