{#-
    Item-to-item co-occurrence: for each product, its best co-occurring
    in-stock products ("bought / viewed together").

    1. Each basket (session or counted order, int_product_interactions_collected)
       is reduced to its distinct products, and capped at
       recommendation_max_products_per_basket: the most recently touched
       (ties, and every line of an order, by product_id).
    2. Products of one basket are paired (both directions), so a basket of
       n <= cap products gives n * (n - 1) rows: linear in the number of
       baskets, never a join of all events with each other.
    3. A pair scores recommendation_view_weight per session and
       recommendation_purchase_weight per order in which both occur.
    4. Only neighbours that are in the catalogue and in stock are kept, then
       the recommendation_neighbours_per_product best per product (score
       desc, neighbour_product_id asc).
-#}

{%- set view_weight = var('recommendation_view_weight') -%}
{%- set purchase_weight = var('recommendation_purchase_weight') -%}

with

interactions as (

    select * from {{ ref('int_product_interactions_collected') }}

),

products as (

    select * from {{ ref('products') }}
    where is_in_stock

),

basket_products as (

    select
        basket_type,
        basket_id,
        product_id,
        max(last_interacted_at) as last_interacted_at
    from interactions
    group by 1, 2, 3

),

recency_ranked as (

    select
        *,
        row_number() over (
            partition by basket_type, basket_id
            order by last_interacted_at desc, product_id asc
        ) as recency_rank,
        count(*) over (partition by basket_type, basket_id) as basket_size
    from basket_products

),

capped as (

    select * from recency_ranked
    where
        recency_rank <= {{ var('recommendation_max_products_per_basket') }}
        -- a single product pairs with nothing
        and basket_size > 1

),

pairs as (

    select
        capped.product_id,
        neighbour.product_id as neighbour_product_id,
        capped.basket_type
    from capped
    inner join capped as neighbour
        on
            capped.basket_type = neighbour.basket_type
            and capped.basket_id = neighbour.basket_id
            and capped.product_id != neighbour.product_id

),

aggregated as (

    select
        pairs.product_id,
        pairs.neighbour_product_id,
        sum(case when pairs.basket_type = 'session' then 1 else 0 end) as sessions_together,
        sum(case when pairs.basket_type = 'order' then 1 else 0 end) as orders_together
    from pairs
    inner join products
        on pairs.neighbour_product_id = products.product_id
    group by 1, 2

),

scored as (

    select
        product_id,
        neighbour_product_id,
        sessions_together,
        orders_together,
        sessions_together * {{ view_weight }} + orders_together * {{ purchase_weight }} as score
    from aggregated

),

ranked as (

    select
        *,
        row_number() over (
            partition by product_id
            order by score desc, neighbour_product_id asc
        ) as neighbour_rank
    from scored

),

final as (

    select
        -- ids
        product_id,
        neighbour_product_id,

        -- evidence
        cast(sessions_together as {{ dbt.type_bigint() }}) as sessions_together,
        cast(orders_together as {{ dbt.type_bigint() }}) as orders_together,

        -- score
        cast(score as {{ type_double() }}) as score,
        cast(neighbour_rank as {{ dbt.type_int() }}) as neighbour_rank
    from ranked
    where neighbour_rank <= {{ var('recommendation_neighbours_per_product') }}

)

select * from final
