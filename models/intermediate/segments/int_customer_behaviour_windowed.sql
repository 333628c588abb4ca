{#-
    The windowed behaviour that segment rules test, per customer, measured at
    as_of. Every window is a var (see dbt_project.yml, "segments"); a window of
    N hours or days is (as_of - N, as_of], as in in_last_hours / in_last_days.

    Product-level facts are aggregated per (customer, product) first, then
    summed per customer, so "a product viewed and not bought" means the same
    product. A purchase is a counted order line (orders.is_counted) of that
    product placed up to as_of.
-#}

{%- set browse_hours = var('browse_abandoner_window_hours') -%}
{%- set warm_days = var('warm_lead_window_days') -%}
{%- set retarget_days = var('retargeting_lookback_days') -%}
{%- set retarget_hours = var('retargeting_purchase_window_hours') -%}
{%- set pricing_days = var('pricing_page_window_days') -%}
{%- set lookback_hours = [browse_hours, warm_days * 24, retarget_days * 24, pricing_days * 24] | max -%}

with

events as (

    select * from {{ ref('int_events_stitched') }}
    where
        {{ in_last_hours('occurred_at', lookback_hours) }}
        and customer_key is not null

),

orders as (

    select * from {{ ref('orders') }}
    where is_counted and ordered_at <= {{ as_of() }}

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

purchases as (

    select distinct
        orders.customer_key,
        order_items.product_id,
        orders.ordered_at
    from orders
    inner join order_items
        on orders.order_id = order_items.order_id
    where orders.customer_key is not null

),

product_views as (

    select
        customer_key,
        product_id,
        cast(
            sum(case when {{ in_last_hours('occurred_at', browse_hours) }} then 1 else 0 end)
            as {{ dbt.type_bigint() }}
        ) as views_in_browse_window,
        min(case when {{ in_last_days('occurred_at', warm_days) }} then occurred_at end)
            as first_view_in_warm_lead_window_at,
        min(case when {{ in_last_days('occurred_at', retarget_days) }} then occurred_at end)
            as first_view_in_retargeting_window_at
    from events
    where event_name = 'Product Viewed' and product_id is not null
    group by 1, 2

),

-- per viewed product: was it bought after the view that opened each window?
product_outcomes as (

    select
        product_views.customer_key,
        product_views.product_id,
        product_views.views_in_browse_window,
        product_views.first_view_in_warm_lead_window_at,
        product_views.first_view_in_retargeting_window_at,
        max(case
            when purchases.ordered_at >= product_views.first_view_in_warm_lead_window_at then 1 else 0
        end) = 1 as is_bought_since_warm_lead_view,
        max(case
            when
                purchases.ordered_at >= product_views.first_view_in_retargeting_window_at
                and purchases.ordered_at <= {{ dbt.dateadd(
                    'hour', retarget_hours, 'product_views.first_view_in_retargeting_window_at'
                ) }}
                then 1
            else 0
        end) = 1 as is_bought_within_retargeting_hours
    from product_views
    left join purchases
        on
            product_views.customer_key = purchases.customer_key
            and product_views.product_id = purchases.product_id
    group by 1, 2, 3, 4, 5

),

products_summary as (

    select
        customer_key,
        max(views_in_browse_window) as browse_window_max_views_of_one_product,
        cast(sum(case
            when first_view_in_warm_lead_window_at is not null and not is_bought_since_warm_lead_view then 1
            else 0
        end) as {{ dbt.type_bigint() }}) as warm_lead_unbought_products,
        cast(sum(case
            when
                first_view_in_retargeting_window_at is not null
                and first_view_in_retargeting_window_at
                <= {{ dbt.dateadd('hour', -1 * retarget_hours, as_of()) }}
                and not is_bought_within_retargeting_hours
                then 1
            else 0
        end) as {{ dbt.type_bigint() }}) as retargeting_unbought_products
    from product_outcomes
    group by 1

),

events_summary as (

    select
        customer_key,
        cast(sum(case
            when event_name = 'Product Added' and {{ in_last_hours('occurred_at', browse_hours) }} then 1 else 0
        end) as {{ dbt.type_bigint() }}) as browse_window_add_to_carts,
        max(case
            when
                message_type = 'page'
                and page_path = '{{ var("pricing_page_path") }}'
                and {{ in_last_days('occurred_at', pricing_days) }}
                then occurred_at
        end) as last_pricing_page_view_at
    from events
    group by 1

),

orders_summary as (

    select
        customer_key,
        cast(
            sum(case when {{ in_last_hours('ordered_at', browse_hours) }} then 1 else 0 end)
            as {{ dbt.type_bigint() }}
        ) as browse_window_orders
    from orders
    where {{ in_last_hours('ordered_at', browse_hours) }} and customer_key is not null
    group by 1

),

-- a counted order in the browse window makes a row even without tracked events,
-- so browse_window_orders never reads 0 for a buyer
customer_keys as (

    select customer_key from events_summary
    union
    select customer_key from orders_summary

),

final as (

    select
        customer_keys.customer_key,
        coalesce(products_summary.browse_window_max_views_of_one_product, 0) as browse_window_max_views_of_one_product,
        coalesce(events_summary.browse_window_add_to_carts, 0) as browse_window_add_to_carts,
        coalesce(orders_summary.browse_window_orders, 0) as browse_window_orders,
        coalesce(products_summary.warm_lead_unbought_products, 0) as warm_lead_unbought_products,
        coalesce(products_summary.retargeting_unbought_products, 0) as retargeting_unbought_products,
        events_summary.last_pricing_page_view_at
    from customer_keys
    left join events_summary
        on customer_keys.customer_key = events_summary.customer_key
    left join products_summary
        on customer_keys.customer_key = products_summary.customer_key
    left join orders_summary
        on customer_keys.customer_key = orders_summary.customer_key

)

select * from final
