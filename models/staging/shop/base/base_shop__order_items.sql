{#- Ledger of raw order lines: one per raw row, with disposition and reason. -#}

with

source as (

    select * from {{ source('raw', 'order_items') }}

),

validated as (

    select
        *,
        {{ clean_text('order_id') }} as clean_order_id,
        case
            when {{ clean_text('order_id') }} is null then 'missing_order_id'
            when line_number is null then 'missing_line_number'
            when {{ clean_text('product_id') }} is null then 'missing_product_id'
            when quantity is null or quantity <= 0 then 'invalid_quantity'
            when unit_price < 0 then 'negative_unit_price'
        end as quarantine_reason
    from source

),

final as (

    select
        *,
        {{ staging_disposition(
            'clean_order_id, line_number', 'product_id, quantity, unit_price nulls last'
        ) }} as disposition
    from validated

)

select * from final
