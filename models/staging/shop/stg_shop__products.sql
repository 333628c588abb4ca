{#- Catalogue items, latest version of each, with canonical product ids. -#}

with

ledger as (

    select * from {{ ref('base_shop__products') }}
    where disposition = 'staged'

),

final as (

    select
        -- ids
        clean_product_id as product_id,

        -- descriptors
        {{ clean_text('name') }} as product_name,
        lower({{ clean_text('category') }}) as category,
        {{ clean_text('image_url') }} as image_url,
        {{ clean_text('product_url') }} as product_url,

        -- numerics
        price,
        upper({{ clean_text('currency') }}) as currency,
        coalesce(stock_quantity, 0) as stock_quantity,
        coalesce(stock_quantity, 0) > 0 as is_in_stock,

        -- timestamps
        updated_at
    from ledger

)

select * from final
