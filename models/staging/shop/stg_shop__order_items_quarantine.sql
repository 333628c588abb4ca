{#- Raw order lines that failed a staging rule, untouched, with the rule they broke. -#}

select
    order_id,
    line_number,
    product_id,
    quantity,
    unit_price,
    quarantine_reason
from {{ ref('base_shop__order_items') }}
where disposition = 'quarantined'
