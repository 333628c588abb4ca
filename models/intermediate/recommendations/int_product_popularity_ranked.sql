{#-
    Popularity of every in-stock product in the recommendation lookback,
    ranked globally and within its category: the fallback when co-occurrence
    has too little to say about a customer.

    popularity_score = recommendation_view_weight * sessions in which the
    product was viewed or added + recommendation_purchase_weight * counted
    orders containing it (distinct sessions and orders, so reloading a page
    does not count twice). In-stock products nobody touched are listed with
    score 0, so the ranking covers the whole recommendable catalogue. Ties:
    product_id ascending.
-#}

with

interactions as (

    select * from {{ ref('int_product_interactions_collected') }}

),

products as (

    select * from {{ ref('products') }}
    where is_in_stock

),

product_baskets as (

    select
        product_id,
        count(distinct case when basket_type = 'session' then basket_id end) as sessions_with_product,
        count(distinct case when basket_type = 'order' then basket_id end) as orders_with_product
    from interactions
    group by 1

),

scored as (

    select
        products.product_id,
        products.category,
        coalesce(product_baskets.sessions_with_product, 0) as sessions_with_product,
        coalesce(product_baskets.orders_with_product, 0) as orders_with_product,
        coalesce(product_baskets.sessions_with_product, 0) * {{ var('recommendation_view_weight') }}
        + coalesce(product_baskets.orders_with_product, 0) * {{ var('recommendation_purchase_weight') }}
            as popularity_score
    from products
    left join product_baskets
        on products.product_id = product_baskets.product_id

),

final as (

    select
        -- ids
        product_id,
        category,

        -- evidence
        cast(sessions_with_product as {{ dbt.type_bigint() }}) as sessions_with_product,
        cast(orders_with_product as {{ dbt.type_bigint() }}) as orders_with_product,

        -- score and ranks
        cast(popularity_score as {{ type_double() }}) as popularity_score,
        cast(
            row_number() over (order by popularity_score desc, product_id asc) as {{ dbt.type_int() }}
        ) as global_rank,
        cast(
            row_number() over (partition by category order by popularity_score desc, product_id asc)
            as {{ dbt.type_int() }}
        ) as category_rank
    from scored

)

select * from final
