{#-
    Every staged order with the customer_key of its buyer, its line totals and
    the definition of what counts as an order.

    Attribution: the customer_key of the buyer's customer_id (user_id) in the
    identity map, else that of the checkout email, else that of the browser's
    anonymous_id. The map observes every identifier of every staged order, so
    the first identifier present decides in a full build; falling through to
    the next one only matters when the map is partial.

    Counted order (RFM, revenue, closing a cart): completed and total_amount
    greater than 0. Cancelled and refunded orders are not counted; zero-value
    completed orders (free orders, full-discount vouchers) are kept but not
    counted, so they neither raise frequency nor close a cart.
-#}

with

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

identifiers as (

    select * from {{ ref('int_identifiers_stitched') }}

),

order_lines as (

    select
        order_id,
        count(*) as item_count,
        -- typed explicitly: the types of sums differ between engines
        cast(sum(quantity) as {{ dbt.type_bigint() }}) as units,
        cast(sum(line_amount) as decimal(18, 2)) as gross_amount
    from order_items
    group by 1

),

attributed as (

    select
        orders.*,
        coalesce(
            by_user_id.customer_key, by_email.customer_key, by_anonymous_id.customer_key
        ) as customer_key,
        case
            when by_user_id.customer_key is not null then 'user_id'
            when by_email.customer_key is not null then 'email'
            when by_anonymous_id.customer_key is not null then 'anonymous_id'
        end as attributed_by
    from orders
    left join identifiers as by_user_id
        on
            by_user_id.identifier_type = 'user_id'
            and orders.customer_id = by_user_id.identifier
    left join identifiers as by_email
        on
            by_email.identifier_type = 'email'
            and orders.email = by_email.identifier
    left join identifiers as by_anonymous_id
        on
            by_anonymous_id.identifier_type = 'anonymous_id'
            and orders.anonymous_id = by_anonymous_id.identifier

),

final as (

    select
        -- ids
        attributed.order_id,
        attributed.customer_key,
        attributed.attributed_by,
        attributed.customer_id,
        attributed.email,
        attributed.anonymous_id,

        -- status
        attributed.order_status,
        attributed.is_completed,
        attributed.is_zero_value,
        attributed.is_completed and attributed.total_amount > 0 as is_counted,

        -- lines
        coalesce(order_lines.item_count, 0) as item_count,
        coalesce(order_lines.units, 0) as units,

        -- amounts
        attributed.currency,
        cast(coalesce(order_lines.gross_amount, 0) as decimal(18, 2)) as gross_amount,
        attributed.discount_amount,
        attributed.shipping_amount,
        attributed.total_amount,
        cast(case
            when attributed.is_completed and attributed.total_amount > 0 then attributed.total_amount
            else 0
        end as decimal(18, 2)) as net_revenue,

        -- timestamps (UTC)
        attributed.ordered_at,
        cast(attributed.ordered_at as date) as order_date
    from attributed
    left join order_lines
        on attributed.order_id = order_lines.order_id

)

select * from final
