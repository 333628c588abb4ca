{#-
    The open cart of every customer, replayed from Product Added and Product
    Removed events: one row per (customer_key, product_id) changed since the
    cart was last closed, including lines that went back to 0.

    Rules:
      - Events carry their customer from int_events_stitched (the logged-in
        user's, else the device's), so a cart filled before login and an order
        placed after it belong to one customer. Only events at or before
        as_of() are replayed.
      - The cart closes at the customer's latest Order Completed event or
        counted order (int_orders_attributed.is_counted), whichever is later;
        only changes strictly after that moment are in the open cart.
        Cancelled, refunded and zero-value orders do not close it.
      - A change adds or removes properties.quantity units (1 when missing;
        events with quantity <= 0 or no product_id are ignored), in the order
        (occurred_at, event_id). The quantity never goes below 0: removing
        more than is in the cart empties the line, and later adds count from 0.
        That floored running sum is computed without recursion as
        running_sum - min(0, lowest running_sum so far).
      - unit_price is the latest non-null price on the line's events, else the
        product's current catalogue price.
-#}

with

events as (

    select * from {{ ref('int_events_stitched') }}

),

orders as (

    select * from {{ ref('int_orders_attributed') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

keyed_events as (

    select
        event_id,
        event_name,
        product_id,
        quantity,
        price,
        occurred_at,
        customer_key
    from events
    where
        event_name in ('Product Added', 'Product Removed', 'Order Completed')
        and occurred_at <= {{ as_of() }}

),

cart_closes as (

    select
        customer_key,
        max(closed_at) as cart_closed_at
    from (
        select
            customer_key,
            occurred_at as closed_at
        from keyed_events
        where event_name = 'Order Completed'
        union all
        select
            customer_key,
            ordered_at as closed_at
        from orders
        where is_counted and ordered_at <= {{ as_of() }}
    ) as closes
    where customer_key is not null
    group by 1

),

cart_changes as (

    select
        keyed_events.customer_key,
        keyed_events.product_id,
        keyed_events.event_id,
        keyed_events.occurred_at,
        keyed_events.price,
        cart_closes.cart_closed_at,
        case
            when keyed_events.event_name = 'Product Added' then coalesce(keyed_events.quantity, 1)
            else -1 * coalesce(keyed_events.quantity, 1)
        end as quantity_change
    from keyed_events
    left join cart_closes
        on keyed_events.customer_key = cart_closes.customer_key
    where
        keyed_events.event_name in ('Product Added', 'Product Removed')
        and keyed_events.customer_key is not null
        and keyed_events.product_id is not null
        and coalesce(keyed_events.quantity, 1) > 0
        and (cart_closes.cart_closed_at is null or keyed_events.occurred_at > cart_closes.cart_closed_at)

),

running_sums as (

    select
        *,
        sum(quantity_change) over line_timeline as running_sum,
        row_number() over (
            partition by customer_key, product_id
            order by occurred_at desc, event_id desc
        ) as position_from_end
    from cart_changes
    window line_timeline as (
        partition by customer_key, product_id
        order by occurred_at, event_id
        rows between unbounded preceding and current row
    )

),

running_minimums as (

    select
        *,
        min(running_sum) over (
            partition by customer_key, product_id
            order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as lowest_running_sum
    from running_sums

),

latest_prices as (

    select
        customer_key,
        product_id,
        price
    from (
        select
            customer_key,
            product_id,
            price,
            row_number() over (
                partition by customer_key, product_id
                order by occurred_at desc, event_id desc
            ) as price_position_from_end
        from cart_changes
        where price is not null
    ) as priced_changes
    where price_position_from_end = 1

),

lines as (

    select
        customer_key,
        product_id,
        max(cart_closed_at) as cart_closed_at,
        count(*) as change_events,
        min(occurred_at) as first_changed_at,
        max(occurred_at) as last_changed_at,
        max(
            case
                when position_from_end = 1
                    then running_sum - case when lowest_running_sum < 0 then lowest_running_sum else 0 end
            end
        ) as quantity_replayed
    from running_minimums
    group by 1, 2

),

final as (

    select
        -- ids
        lines.customer_key,
        lines.product_id,

        -- line
        -- typed explicitly: sums of integers are HUGEINT on DuckDB, bigint on PostgreSQL
        cast(lines.quantity_replayed as {{ dbt.type_bigint() }}) as quantity,
        lines.quantity_replayed > 0 as is_in_cart,
        coalesce(latest_prices.price, products.price) as unit_price,
        case
            when latest_prices.price is not null then 'event'
            when products.price is not null then 'catalogue'
        end as unit_price_source,
        cast(lines.quantity_replayed * coalesce(latest_prices.price, products.price) as decimal(18, 2)) as line_amount,
        lines.change_events,

        -- timestamps (UTC)
        lines.cart_closed_at,
        lines.first_changed_at,
        lines.last_changed_at
    from lines
    left join latest_prices
        on
            lines.customer_key = latest_prices.customer_key
            and lines.product_id = latest_prices.product_id
    left join products
        on lines.product_id = products.product_id

)

select * from final
