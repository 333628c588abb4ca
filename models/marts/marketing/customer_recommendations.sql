{#-
    Product recommendations for every customer that can be emailed (a
    customers row with an email): recommendations_per_customer (N) rows per
    customer, ranks 1..N.

    1. Seeds: the customer's recommendation_seed_products most recently
       touched distinct products in the lookback (viewed, added to cart or
       bought; int_product_interactions_collected).
    2. co_occurrence: the neighbours of the seeds (int_product_pairs_scored),
       score = sum of the pair scores over the seeds.
    3. favourite_category: the most popular in-stock products of
       customers.favourite_category (int_product_popularity_ranked).
    4. global_popular: the most popular in-stock products overall.
    Candidates are ranked by source in that order, then score desc, then
    product_id asc; a product is listed once, under its first source.

    Never recommended: a product the customer bought (a counted order at or
    before as_of, any time) or one out of stock. Seeds are not recommended
    either (the customer has just seen them), except as the very last resort:
    when fewer than N other products are left, the most popular in-stock seeds
    the customer did not buy fill the remaining slots as global_popular. So a
    customer gets N rows whenever the catalogue has N in-stock products they
    did not buy.

    Only as many popular products as a customer may need are read: N + their
    seeds + their bought products (each excluded product can push at most one
    candidate out of the top N), so the fallback never pairs every customer
    with the whole catalogue.
-#}

{%- set slots = var('recommendations_per_customer') -%}

with

customers as (

    select * from {{ ref('customers') }}
    where email is not null

),

interactions as (

    select * from {{ ref('int_product_interactions_collected') }}

),

pairs as (

    select * from {{ ref('int_product_pairs_scored') }}

),

popularity as (

    select * from {{ ref('int_product_popularity_ranked') }}

),

products as (

    select * from {{ ref('products') }}

),

orders as (

    select * from {{ ref('orders') }}
    where is_counted and ordered_at <= {{ as_of() }}

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

touched as (

    select
        interactions.customer_key,
        interactions.product_id,
        max(interactions.last_interacted_at) as last_interacted_at
    from interactions
    inner join customers
        on interactions.customer_key = customers.customer_key
    group by 1, 2

),

touched_ranked as (

    select
        *,
        row_number() over (
            partition by customer_key
            order by last_interacted_at desc, product_id asc
        ) as seed_rank
    from touched

),

seeds as (

    select * from touched_ranked
    where seed_rank <= {{ var('recommendation_seed_products') }}

),

bought as (

    select distinct
        orders.customer_key,
        order_items.product_id
    from orders
    inner join order_items
        on orders.order_id = order_items.order_id
    inner join customers
        on orders.customer_key = customers.customer_key

),

seed_counts as (

    select
        customer_key,
        count(*) as seed_count
    from seeds
    group by 1

),

bought_counts as (

    select
        customer_key,
        count(*) as bought_count
    from bought
    group by 1

),

-- how deep into the popularity rankings a customer may have to read
candidate_limits as (

    select
        customers.customer_key,
        customers.favourite_category,
        {{ slots }} + coalesce(seed_counts.seed_count, 0) + coalesce(bought_counts.bought_count, 0)
            as candidate_limit
    from customers
    left join seed_counts
        on customers.customer_key = seed_counts.customer_key
    left join bought_counts
        on customers.customer_key = bought_counts.customer_key

),

co_occurrence as (

    select
        seeds.customer_key,
        pairs.neighbour_product_id as product_id,
        sum(pairs.score) as score,
        1 as source_priority
    from seeds
    inner join pairs
        on seeds.product_id = pairs.product_id
    group by 1, 2

),

favourite_category as (

    select
        candidate_limits.customer_key,
        popularity.product_id,
        popularity.popularity_score as score,
        2 as source_priority
    from candidate_limits
    inner join popularity
        on
            candidate_limits.favourite_category = popularity.category
            and candidate_limits.candidate_limit >= popularity.category_rank

),

global_popular as (

    select
        candidate_limits.customer_key,
        popularity.product_id,
        popularity.popularity_score as score,
        3 as source_priority
    from candidate_limits
    inner join popularity
        on candidate_limits.candidate_limit >= popularity.global_rank

),

candidates as (

    select * from co_occurrence
    union all
    select * from favourite_category
    union all
    select * from global_popular

),

eligible as (

    select
        candidates.customer_key,
        candidates.product_id,
        candidates.score,
        candidates.source_priority,
        -- a seed only ever fills the last slots
        case when seeds.product_id is not null then 1 else 0 end as is_seed
    from candidates
    inner join products
        on candidates.product_id = products.product_id
    left join bought
        on candidates.customer_key = bought.customer_key and candidates.product_id = bought.product_id
    left join seeds
        on candidates.customer_key = seeds.customer_key and candidates.product_id = seeds.product_id
    where
        products.is_in_stock
        and bought.product_id is null
        and (seeds.product_id is null or candidates.source_priority = 3)

),

first_source as (

    select
        *,
        row_number() over (
            partition by customer_key, product_id
            order by source_priority asc
        ) as source_rank
    from eligible

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_key
            order by is_seed asc, source_priority asc, score desc, product_id asc
        ) as recommendation_rank
    from first_source
    where source_rank = 1

),

final as (

    select
        -- ids
        customer_key,
        cast(recommendation_rank as {{ dbt.type_int() }}) as recommendation_rank,
        product_id,

        -- why
        cast(score as {{ type_double() }}) as score,
        case source_priority
            when 1 then 'co_occurrence'
            when 2 then 'favourite_category'
            else 'global_popular'
        end as recommendation_source,

        -- timestamps (UTC)
        {{ as_of() }} as computed_as_of
    from ranked
    where recommendation_rank <= {{ slots }}

)

select * from final
