{#-
    Product interest per customer up to as_of: favourite category (most product
    views in the last 90 days; ties go to the most recently viewed, then the
    name; none without a view in 90 days), the categories viewed in 30 days
    (unique, comma-separated, sorted), product views per category in 7 and 30
    days (JSON objects, '{}' when none), and the last viewed product.
-#}

with

category_views as (

    select * from {{ ref('int_customer_category_views_aggregated') }}

),

product_views as (

    select * from {{ ref('int_events_stitched') }}
    where
        event_name = 'Product Viewed'
        and product_id is not null
        and occurred_at <= {{ as_of() }}

),

favourite as (

    select
        customer_key,
        category,
        row_number() over (
            partition by customer_key
            order by product_views_90d desc, last_viewed_at desc nulls last, category asc nulls last
        ) as preference_rank
    from category_views
    where product_views_90d > 0

),

views_7d as (

    select
        customer_key,
        {{ json_object_agg('category', 'product_views_7d') }} as product_views_by_category_7d
    from category_views
    where product_views_7d > 0
    group by 1

),

views_30d as (

    select
        customer_key,
        {{ json_object_agg('category', 'product_views_30d') }} as product_views_by_category_30d,
        {{ dbt.listagg('category', "','", 'order by category') }} as categories_viewed_30d
    from category_views
    where product_views_30d > 0
    group by 1

),

customers as (

    select distinct customer_key from category_views

),

last_viewed as (

    select
        customer_key,
        product_id as last_viewed_product_id,
        occurred_at as last_product_viewed_at,
        row_number() over (partition by customer_key order by occurred_at desc, event_id desc) as recency_rank
    from product_views

),

final as (

    select
        customers.customer_key,
        favourite.category as favourite_category,
        views_30d.categories_viewed_30d,
        coalesce(views_7d.product_views_by_category_7d, '{}') as product_views_by_category_7d,
        coalesce(views_30d.product_views_by_category_30d, '{}') as product_views_by_category_30d,
        last_viewed.last_viewed_product_id,
        last_viewed.last_product_viewed_at
    from customers
    left join favourite
        on customers.customer_key = favourite.customer_key and favourite.preference_rank = 1
    left join views_7d
        on customers.customer_key = views_7d.customer_key
    left join views_30d
        on customers.customer_key = views_30d.customer_key
    left join last_viewed
        on customers.customer_key = last_viewed.customer_key and last_viewed.recency_rank = 1

)

select * from final
