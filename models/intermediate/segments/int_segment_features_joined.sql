{#-
    The vocabulary of customer-level segment rules: one row per customer with
    the profile, RFM, cart, order-rhythm, consent and windowed-behaviour
    columns a segment condition (macros/segments/segment_catalogue_yaml.sql) may use, all measured at
    as_of. Durations are numbers (hours or days, fractional) so a rule reads
    like its description: hours_since_last_cart_change <= 24.
-#}

{%- set interest_days = var('category_interest_window_days') -%}

with

customers as (

    select * from {{ ref('customers') }}

),

rfm as (

    select * from {{ ref('customer_rfm') }}

),

behaviour as (

    select * from {{ ref('int_customer_behaviour_windowed') }}

),

category_views as (

    select * from {{ ref('int_customer_category_views_aggregated') }}

),

orders as (

    select * from {{ ref('orders') }}
    where is_counted and ordered_at <= {{ as_of() }}

),

-- days between consecutive counted orders (calendar days, UTC)
order_gaps as (

    select
        customer_key,
        {{ whole_datediff(
            'lag(order_date) over (partition by customer_key order by ordered_at, order_id)', 'order_date', 'day'
        ) }} as gap_days
    from orders
    where customer_key is not null

),

purchase_rhythm as (

    select
        customer_key,
        cast({{ median('gap_days') }} as {{ type_double() }}) as typical_purchase_interval_days
    from order_gaps
    where gap_days is not null
    group by 1

),

-- '|shoes|bags|': categories with a product view in the interest window, so a
-- rule can test one with: categories_viewed_recently like '%|shoes|%'
recent_categories as (

    select
        customer_key,
        {{ dbt.concat([
            "'|'",
            dbt.listagg('category', "'|'", 'order by category'),
            "'|'",
        ]) }} as categories_viewed_recently
    from category_views
    where {{ in_last_days('last_viewed_at', interest_days) }}
    group by 1

),

final as (

    select
        -- ids
        customers.customer_key,

        -- profile
        customers.email,
        customers.is_known_customer,
        customers.age,
        customers.city,
        customers.country_code,
        customers.favourite_category,
        coalesce(recent_categories.categories_viewed_recently, '') as categories_viewed_recently,

        -- consent
        customers.has_email_marketing_consent,
        case
            when customers.email_consent_status = 'granted' then customers.email_consent_changed_at
        end as email_consent_granted_at,
        case
            when customers.email_consent_status = 'granted'
                then {{ days_before_as_of('customers.email_consent_changed_at') }}  -- noqa: LT05
        end as days_since_email_consent_granted,

        -- orders and RFM
        customers.orders_lifetime,
        customers.revenue_lifetime,
        customers.last_order_at,
        customers.days_since_last_order,
        rfm.rfm_segment,
        rfm.rfm_cell,
        rfm.r_score,
        rfm.f_score,
        rfm.m_score,
        purchase_rhythm.typical_purchase_interval_days,
        cast(customers.days_since_last_order as {{ type_double() }}) / greatest(
            coalesce(purchase_rhythm.typical_purchase_interval_days, {{ var('purchase_interval_default_days') }}),
            {{ var('purchase_interval_min_days') }}
        ) as purchase_overdue_ratio,

        -- cart
        customers.has_open_cart,
        customers.cart_item_count,
        customers.cart_value,
        customers.last_cart_change_at,
        customers.cart_abandoned_at,
        {{ hours_before_as_of('customers.last_cart_change_at') }} as hours_since_last_cart_change,  -- noqa: LT05
        coalesce(customers.last_order_at >= customers.last_cart_change_at, false) as has_ordered_since_cart_change,

        -- windowed behaviour
        coalesce(behaviour.browse_window_max_views_of_one_product, 0) as browse_window_max_views_of_one_product,
        coalesce(behaviour.browse_window_add_to_carts, 0) as browse_window_add_to_carts,
        coalesce(behaviour.browse_window_orders, 0) as browse_window_orders,
        coalesce(behaviour.warm_lead_unbought_products, 0) as warm_lead_unbought_products,
        coalesce(behaviour.retargeting_unbought_products, 0) as retargeting_unbought_products,
        behaviour.last_pricing_page_view_at,
        coalesce(customers.last_order_at >= behaviour.last_pricing_page_view_at, false)
            as has_ordered_since_pricing_page_view,

        {{ as_of() }} as computed_as_of
    from customers
    left join rfm
        on customers.customer_key = rfm.customer_key
    left join behaviour
        on customers.customer_key = behaviour.customer_key
    left join purchase_rhythm
        on customers.customer_key = purchase_rhythm.customer_key
    left join recent_categories
        on customers.customer_key = recent_categories.customer_key

)

select * from final
