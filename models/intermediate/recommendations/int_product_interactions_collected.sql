{#-
    Every product a customer touched in the recommendation lookback, per
    basket: one row per (basket_type, basket_id, customer_key, product_id).

    Baskets:
      - session: a session of int_sessions_sessionized, with its Product
        Viewed and Product Added events. Events carry no session id, so each
        event is placed in the session of its device (anonymous_id, else
        'user_id:' || user_id, the sessionizer's device_key) whose
        [session_start, session_end] contains it: an equality join on the
        device with a range condition, so a device's few sessions are the only
        ones compared.
      - order: a counted order (orders.is_counted) with its lines.

    Window: in_last_days(recommendation_lookback_days), i.e.
    (as_of - N days, as_of]: an interaction exactly N days before as_of is out.
-#}

{%- set lookback_days = var('recommendation_lookback_days') -%}

with

product_events as (

    select * from {{ ref('int_events_stitched') }}
    where
        event_name in ('Product Viewed', 'Product Added')
        and product_id is not null
        and {{ in_last_days('occurred_at', lookback_days) }}

),

sessions as (

    select * from {{ ref('int_sessions_sessionized') }}
    where
        session_id is not null
        -- only sessions that can hold an event of the window
        and session_end > {{ dbt.dateadd('day', -1 * lookback_days, as_of()) }}
        and session_start <= {{ as_of() }}

),

orders as (

    select * from {{ ref('orders') }}
    where is_counted and {{ in_last_days('ordered_at', lookback_days) }}

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

session_interactions as (

    select
        'session' as basket_type,
        sessions.session_id as basket_id,
        product_events.customer_key,
        product_events.product_id,
        max(product_events.occurred_at) as last_interacted_at
    from product_events
    inner join sessions
        on
            coalesce(
                product_events.anonymous_id, {{ dbt.concat(["'user_id:'", 'product_events.user_id']) }}
            ) = sessions.device_key
            and product_events.occurred_at >= sessions.session_start
            and product_events.occurred_at <= sessions.session_end
    group by 1, 2, 3, 4

),

order_interactions as (

    select
        'order' as basket_type,
        orders.order_id as basket_id,
        orders.customer_key,
        order_items.product_id,
        max(orders.ordered_at) as last_interacted_at
    from orders
    inner join order_items
        on orders.order_id = order_items.order_id
    group by 1, 2, 3, 4

),

final as (

    select * from session_interactions
    union all
    select * from order_interactions

)

select * from final
