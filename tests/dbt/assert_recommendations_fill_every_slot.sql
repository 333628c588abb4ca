{{ config(error_if='>0', fail_calc='count(*)') }}

{#-
    Every customer with an email has min(recommendations_per_customer,
    in-stock products they did not buy) recommendations, ranked 1..n without
    gaps, and nobody else has any.
-#}

{%- set slots = var('recommendations_per_customer') -%}

with

customers as (

    select * from {{ ref('customers') }}

),

recommendations as (

    select * from {{ ref('customer_recommendations') }}

),

products as (

    select * from {{ ref('products') }}
    where is_in_stock

),

orders as (

    select * from {{ ref('orders') }}
    where is_counted and ordered_at <= {{ as_of() }}

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

catalogue as (

    select count(*) as product_count from products

),

bought_in_stock as (

    select
        orders.customer_key,
        count(distinct order_items.product_id) as product_count
    from orders
    inner join order_items
        on orders.order_id = order_items.order_id
    inner join products
        on order_items.product_id = products.product_id
    group by 1

),

expected as (

    select
        customers.customer_key,
        case
            when catalogue.product_count - coalesce(bought_in_stock.product_count, 0) < {{ slots }}
                then catalogue.product_count - coalesce(bought_in_stock.product_count, 0)
            else {{ slots }}
        end as expected_rows
    from customers
    cross join catalogue
    left join bought_in_stock
        on customers.customer_key = bought_in_stock.customer_key
    where customers.email is not null

),

actual as (

    select
        customer_key,
        count(*) as actual_rows,
        max(recommendation_rank) as max_rank
    from recommendations
    group by 1

)

select
    coalesce(expected.customer_key, actual.customer_key) as customer_key,
    expected.expected_rows,
    actual.actual_rows,
    actual.max_rank
from expected
full outer join actual
    on expected.customer_key = actual.customer_key
where
    expected.customer_key is null
    or coalesce(actual.actual_rows, 0) != expected.expected_rows
    or coalesce(actual.max_rank, 0) != expected.expected_rows
