{#- Order lines with canonical product ids and line totals. -#}

with

ledger as (

    select * from {{ ref('base_shop__order_items') }}
    where disposition = 'staged'

),

final as (

    select
        -- ids
        {{ dbt.concat(['clean_order_id', "'-'", dbt.safe_cast('line_number', dbt.type_string())]) }}
            as order_item_id,
        clean_order_id as order_id,
        line_number,
        {{ canonical_product_id('product_id') }} as product_id,

        -- amounts
        quantity,
        -- typed explicitly: the types of coalesce(decimal, 0) and int * decimal differ between engines
        cast(coalesce(unit_price, 0) as decimal(18, 2)) as unit_price,
        cast(quantity * coalesce(unit_price, 0) as decimal(18, 2)) as line_amount
    from ledger

)

select * from final
