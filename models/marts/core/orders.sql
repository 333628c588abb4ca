{#-
    One row per staged order: the buyer's customer_key, what the order is
    worth and whether it counts. The rules live in int_orders_attributed; this
    model fixes the contract (names and types) that BI tools and RFM read.
-#}

with

orders as (

    select * from {{ ref('int_orders_attributed') }}

),

final as (

    select
        -- ids
        order_id,
        customer_key,
        customer_id,
        email,

        -- status
        order_status,
        is_counted,

        -- lines
        cast(item_count as {{ dbt.type_int() }}) as item_count,
        cast(units as {{ dbt.type_int() }}) as units,

        -- amounts
        currency,
        cast(gross_amount as decimal(18, 2)) as gross_amount,
        cast(discount_amount as decimal(18, 2)) as discount_amount,
        cast(shipping_amount as decimal(18, 2)) as shipping_amount,
        cast(total_amount as decimal(18, 2)) as total_amount,
        cast(net_revenue as decimal(18, 2)) as net_revenue,

        -- timestamps (UTC)
        ordered_at,
        order_date
    from orders

)

select * from final
