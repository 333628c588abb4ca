{{ config(error_if='>0', fail_calc='count(*)') }}

{#-
    No recommendation is a product that is out of stock (or missing from the
    catalogue) or that the customer already bought in a counted order at or
    before as_of.
-#}

with

recommendations as (

    select * from {{ ref('customer_recommendations') }}

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

bought as (

    select distinct
        orders.customer_key,
        order_items.product_id
    from orders
    inner join order_items
        on orders.order_id = order_items.order_id

)

select
    recommendations.customer_key,
    recommendations.product_id,
    case
        when bought.product_id is not null then 'already bought'
        else 'out of stock or not in the catalogue'
    end as problem
from recommendations
left join products
    on recommendations.product_id = products.product_id
left join bought
    on recommendations.customer_key = bought.customer_key and recommendations.product_id = bought.product_id
where
    bought.product_id is not null
    or products.product_id is null
    or not products.is_in_stock
