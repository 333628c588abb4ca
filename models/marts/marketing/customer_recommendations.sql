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
    Sources fill the list in that order, each by score desc, then product_id
    asc; a product is listed once, under its first source.

    Never recommended: a product the customer bought (a counted order at or
    before as_of, any time) or one out of stock. Seeds are not recommended
    either (the customer has just seen them), except as the very last resort:
    when fewer than N other products are left, the most popular in-stock seeds
    the customer did not buy fill the remaining slots as global_popular. So a
    customer gets N rows whenever the catalogue has N in-stock products they
    did not buy.

    Cost at scale: the seeds x neighbours expansion (up to seeds * neighbours
    rows per customer) is the only large step; it is keyed by an integer
    customer number rather than the 32-character customer_key. Only customers
    left with fewer than N co-occurrence picks read the popularity rankings,
    and only as deep as they may need: N + their seeds + their bought
    products (each excluded product can push at most one candidate out of
    the top N), never the whole catalogue.
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

-- emailable customers, numbered: the large steps group and sort on an integer
numbered_customers as (

    select
        customer_key,
        favourite_category,
        row_number() over (order by customer_key) as customer_number
    from customers

),

touched as (

    select
        numbered_customers.customer_number,
        interactions.product_id,
        max(interactions.last_interacted_at) as last_interacted_at
    from interactions
    inner join numbered_customers
        on interactions.customer_key = numbered_customers.customer_key
    group by 1, 2

),

touched_ranked as (

    select
        *,
        row_number() over (
            partition by customer_number
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
        numbered_customers.customer_number,
        order_items.product_id
    from orders
    inner join order_items
        on orders.order_id = order_items.order_id
    inner join numbered_customers
        on orders.customer_key = numbered_customers.customer_key

),

in_stock as (

    select * from products
    where is_in_stock

),

-- 1. co-occurrence

co_occurrence_scored as (

    select
        seeds.customer_number,
        pairs.neighbour_product_id as product_id,
        sum(pairs.score) as score
    from seeds
    inner join pairs
        on seeds.product_id = pairs.product_id
    group by 1, 2

),

co_occurrence_ranked as (

    select
        co_occurrence_scored.customer_number,
        co_occurrence_scored.product_id,
        co_occurrence_scored.score,
        row_number() over (
            partition by co_occurrence_scored.customer_number
            order by co_occurrence_scored.score desc, co_occurrence_scored.product_id asc
        ) as source_rank
    from co_occurrence_scored
    inner join in_stock
        on co_occurrence_scored.product_id = in_stock.product_id
    left join bought
        on
            co_occurrence_scored.customer_number = bought.customer_number
            and co_occurrence_scored.product_id = bought.product_id
    left join seeds
        on
            co_occurrence_scored.customer_number = seeds.customer_number
            and co_occurrence_scored.product_id = seeds.product_id
    where bought.product_id is null and seeds.product_id is null

),

co_occurrence_picks as (

    select
        customer_number,
        product_id,
        score,
        1 as source_priority,
        source_rank as recommendation_rank
    from co_occurrence_ranked
    where source_rank <= {{ slots }}

),

-- 2. and 3. popularity, for customers with free slots left

pick_counts as (

    select
        customer_number,
        count(*) as pick_count
    from co_occurrence_picks
    group by 1

),

seed_counts as (

    select
        customer_number,
        count(*) as seed_count
    from seeds
    group by 1

),

bought_counts as (

    select
        customer_number,
        count(*) as bought_count
    from bought
    group by 1

),

-- how deep into the popularity rankings each customer may have to read
fallback_customers as (

    select
        numbered_customers.customer_number,
        numbered_customers.favourite_category,
        coalesce(pick_counts.pick_count, 0) as pick_count,
        {{ slots }} + coalesce(seed_counts.seed_count, 0) + coalesce(bought_counts.bought_count, 0)
            as candidate_limit
    from numbered_customers
    left join pick_counts
        on numbered_customers.customer_number = pick_counts.customer_number
    left join seed_counts
        on numbered_customers.customer_number = seed_counts.customer_number
    left join bought_counts
        on numbered_customers.customer_number = bought_counts.customer_number
    where coalesce(pick_counts.pick_count, 0) < {{ slots }}

),

popular_candidates as (

    select
        fallback_customers.customer_number,
        fallback_customers.pick_count,
        popularity.product_id,
        popularity.popularity_score as score,
        2 as source_priority
    from fallback_customers
    inner join popularity
        on
            fallback_customers.favourite_category = popularity.category
            and fallback_customers.candidate_limit >= popularity.category_rank

    union all

    select
        fallback_customers.customer_number,
        fallback_customers.pick_count,
        popularity.product_id,
        popularity.popularity_score as score,
        3 as source_priority
    from fallback_customers
    inner join popularity
        on fallback_customers.candidate_limit >= popularity.global_rank

),

popular_eligible as (

    select
        popular_candidates.*,
        -- a seed only ever fills the last slots
        case when seeds.product_id is not null then 1 else 0 end as is_seed,
        row_number() over (
            partition by popular_candidates.customer_number, popular_candidates.product_id
            order by popular_candidates.source_priority asc
        ) as source_rank
    from popular_candidates
    inner join in_stock
        on popular_candidates.product_id = in_stock.product_id
    left join bought
        on
            popular_candidates.customer_number = bought.customer_number
            and popular_candidates.product_id = bought.product_id
    left join seeds
        on
            popular_candidates.customer_number = seeds.customer_number
            and popular_candidates.product_id = seeds.product_id
    left join co_occurrence_picks
        on
            popular_candidates.customer_number = co_occurrence_picks.customer_number
            and popular_candidates.product_id = co_occurrence_picks.product_id
    where
        bought.product_id is null
        and co_occurrence_picks.product_id is null
        and (seeds.product_id is null or popular_candidates.source_priority = 3)

),

popular_ranked as (

    select
        *,
        row_number() over (
            partition by customer_number
            order by is_seed asc, source_priority asc, score desc, product_id asc
        ) as fallback_rank
    from popular_eligible
    where source_rank = 1

),

popular_picks as (

    select
        customer_number,
        product_id,
        score,
        source_priority,
        pick_count + fallback_rank as recommendation_rank
    from popular_ranked
    where pick_count + fallback_rank <= {{ slots }}

),

picks as (

    select * from co_occurrence_picks
    union all
    select * from popular_picks

),

final as (

    select
        -- ids
        numbered_customers.customer_key,
        cast(picks.recommendation_rank as {{ dbt.type_int() }}) as recommendation_rank,
        picks.product_id,

        -- why
        cast(picks.score as {{ type_double() }}) as score,
        case picks.source_priority
            when 1 then 'co_occurrence'
            when 2 then 'favourite_category'
            else 'global_popular'
        end as recommendation_source,

        -- timestamps (UTC)
        {{ as_of() }} as computed_as_of
    from picks
    inner join numbered_customers
        on picks.customer_number = numbered_customers.customer_number

)

select * from final
