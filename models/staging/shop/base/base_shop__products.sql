{#- Ledger of raw catalogue rows: one per raw row, with disposition and reason. -#}

with

source as (

    select * from {{ source('raw', 'products') }}

),

validated as (

    select
        *,
        {{ canonical_product_id('product_id') }} as clean_product_id,
        case
            when {{ canonical_product_id('product_id') }} is null then 'missing_product_id'
            when price < 0 then 'negative_price'
        end as quarantine_reason
    from source

),

final as (

    select
        *,
        -- the catalogue re-delivers an item when it changes: the latest version wins
        {{ staging_disposition(
            'clean_product_id',
            'updated_at desc nulls last, product_id, name nulls last, price nulls last, category nulls last, '
            ~ 'currency nulls last, image_url nulls last, product_url nulls last, stock_quantity nulls last'
        ) }} as disposition
    from validated

)

select * from final
