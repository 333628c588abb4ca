{#-
    The product catalogue: one row per canonical product id, the latest
    version of each catalogue item (stg_shop__products), with its stock state.
    This model fixes the contract (names and types) that activation and the
    recommendation models read.
-#}

with

products as (

    select * from {{ ref('stg_shop__products') }}

),

final as (

    select
        -- ids
        product_id,

        -- descriptors
        product_name,
        category,
        cast(price as decimal(18, 2)) as price,
        currency,
        product_url,
        image_url,

        -- stock
        cast(stock_quantity as {{ dbt.type_int() }}) as stock_quantity,
        is_in_stock,

        -- timestamps (UTC)
        updated_at
    from products

)

select * from final
