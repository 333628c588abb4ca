{#-
    The unified customer profile: one row per customer_key (every person or
    device the identity graph knows, identified or not), with identifiers,
    contact and consent, site activity, product interest, cart, orders and
    email engagement, all measured at as_of.
-#}

with

identities as (

    select * from {{ ref('int_identifiers_stitched') }}

),

crm as (

    select * from {{ ref('stg_crm__customers') }}

),

consents as (

    select * from {{ ref('int_customer_consents_latest') }}

),

activity as (

    select * from {{ ref('int_customer_activity_aggregated') }}

),

interest as (

    select * from {{ ref('int_customer_product_interest_aggregated') }}

),

engagement as (

    select * from {{ ref('int_customer_email_engagement_aggregated') }}

),

carts as (

    select * from {{ ref('customer_carts') }}

),

orders as (

    select * from {{ ref('orders') }}
    where is_counted and ordered_at <= {{ as_of() }}

),

-- unique lists of every identifier of each type, and the graph facts
identifier_lists as (

    select
        customer_key,
        max(case when is_known_customer then 1 else 0 end) = 1 as is_known_customer,
        max(component_size) as identifier_count,
        {{ dbt.listagg("case when identifier_type = 'user_id' then identifier end", "','", 'order by identifier') }}
            as user_ids,
        {{ dbt.listagg("case when identifier_type = 'email' then identifier end", "','", 'order by identifier') }}
            as emails,
        {{ dbt.listagg(
            "case when identifier_type = 'anonymous_id' then identifier end", "','", 'order by identifier'
        ) }} as anonymous_ids,
        cast(sum(case when identifier_type = 'anonymous_id' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as anonymous_id_count
    from identities
    group by 1

),

-- the most recently updated CRM record of the customer supplies the person's attributes
crm_latest as (

    select
        identities.customer_key,
        crm.email,
        crm.first_name,
        crm.last_name,
        crm.birth_date,
        crm.city,
        crm.country_code,
        crm.created_at,
        row_number() over (
            partition by identities.customer_key
            order by crm.updated_at desc nulls last, crm.customer_id asc
        ) as recency_rank
    from crm
    inner join identities
        on identities.identifier_type = 'user_id' and crm.customer_id = identities.identifier

),

order_summary as (

    select
        customer_key,
        cast(count(*) as {{ dbt.type_bigint() }}) as orders_lifetime,
        cast(sum(net_revenue) as decimal(18, 2)) as revenue_lifetime,
        cast(sum(case when {{ in_last_days('ordered_at', 90) }} then 1 else 0 end) as {{ dbt.type_bigint() }})
            as orders_90d,
        cast(sum(case when {{ in_last_days('ordered_at', 90) }} then net_revenue else 0 end) as decimal(18, 2))
            as revenue_90d,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at
    from orders
    group by 1

),

final as (

    select
        -- identity
        identifier_lists.customer_key,
        identifier_lists.is_known_customer,
        identifier_lists.identifier_count,
        identifier_lists.user_ids,
        identifier_lists.emails,
        identifier_lists.anonymous_ids,
        identifier_lists.anonymous_id_count,

        -- person
        coalesce(crm_latest.email, {{ dbt.split_part('identifier_lists.emails', "','", 1) }}) as email,
        crm_latest.first_name,
        crm_latest.last_name,
        {{ age_at_as_of('crm_latest.birth_date') }} as age,
        case
            when crm_latest.birth_date is null then 'unknown'
            when {{ age_at_as_of('crm_latest.birth_date') }} < 18 then 'under 18'
            when {{ age_at_as_of('crm_latest.birth_date') }} < 25 then '18-24'
            when {{ age_at_as_of('crm_latest.birth_date') }} < 35 then '25-34'
            when {{ age_at_as_of('crm_latest.birth_date') }} < 45 then '35-44'
            when {{ age_at_as_of('crm_latest.birth_date') }} < 55 then '45-54'
            when {{ age_at_as_of('crm_latest.birth_date') }} < 65 then '55-64'
            else '65+'
        end as age_band,
        crm_latest.city,
        crm_latest.country_code,
        crm_latest.created_at as crm_created_at,

        -- consent
        coalesce(email_consent.consent_status, 'unknown') as email_consent_status,
        email_consent.consent_changed_at as email_consent_changed_at,
        coalesce(sms_consent.consent_status, 'unknown') as sms_consent_status,
        sms_consent.consent_changed_at as sms_consent_changed_at,
        coalesce(email_consent.consent_status = 'granted', false) as has_email_marketing_consent,

        -- site activity
        activity.first_seen_at,
        activity.last_seen_at,
        coalesce(activity.sessions_7d, 0) as sessions_7d,
        coalesce(activity.sessions_30d, 0) as sessions_30d,
        coalesce(activity.sessions_90d, 0) as sessions_90d,
        coalesce(activity.page_views_7d, 0) as page_views_7d,
        coalesce(activity.page_views_30d, 0) as page_views_30d,
        coalesce(activity.page_views_90d, 0) as page_views_90d,

        -- product interest
        interest.favourite_category,
        interest.categories_viewed_30d,
        coalesce(interest.product_views_by_category_7d, '{}') as product_views_by_category_7d,
        coalesce(interest.product_views_by_category_30d, '{}') as product_views_by_category_30d,
        interest.last_viewed_product_id,
        interest.last_product_viewed_at,

        -- open cart
        carts.customer_key is not null as has_open_cart,
        cast(coalesce(carts.item_count, 0) as {{ dbt.type_bigint() }}) as cart_item_count,
        coalesce(carts.cart_value, 0) as cart_value,
        carts.last_cart_change_at,
        carts.abandoned_at as cart_abandoned_at,

        -- orders (counted orders only: completed, total above zero)
        coalesce(order_summary.orders_lifetime, 0) as orders_lifetime,
        cast(coalesce(order_summary.revenue_lifetime, 0) as decimal(18, 2)) as revenue_lifetime,
        cast(coalesce(
            {{ decimal_quotient('order_summary.revenue_lifetime', 'order_summary.orders_lifetime') }}, 0
        ) as decimal(18, 2)) as average_order_value_lifetime,
        coalesce(order_summary.orders_90d, 0) as orders_90d,
        cast(coalesce(order_summary.revenue_90d, 0) as decimal(18, 2)) as revenue_90d,
        cast(coalesce(
            {{ decimal_quotient('order_summary.revenue_90d', 'order_summary.orders_90d') }}, 0
        ) as decimal(18, 2)) as average_order_value_90d,
        order_summary.first_order_at,
        order_summary.last_order_at,
        {{ whole_datediff('order_summary.last_order_at', as_of(), 'day') }} as days_since_last_order,  -- noqa: LT05

        -- email engagement
        coalesce(engagement.email_sends_30d, 0) as email_sends_30d,
        coalesce(engagement.email_sends_90d, 0) as email_sends_90d,
        coalesce(engagement.email_opens_30d, 0) as email_opens_30d,
        coalesce(engagement.email_opens_90d, 0) as email_opens_90d,
        coalesce(engagement.email_clicks_30d, 0) as email_clicks_30d,
        coalesce(engagement.email_clicks_90d, 0) as email_clicks_90d,
        engagement.last_email_opened_at,
        engagement.last_email_clicked_at,
        coalesce(engagement.has_hard_bounced, false) as has_hard_bounced,
        coalesce(engagement.has_unsubscribed, false) as has_unsubscribed,
        coalesce(engagement.has_complained, false) as has_complained
    from identifier_lists
    left join crm_latest
        on identifier_lists.customer_key = crm_latest.customer_key and crm_latest.recency_rank = 1
    left join consents as email_consent
        on identifier_lists.customer_key = email_consent.customer_key and email_consent.channel = 'email'
    left join consents as sms_consent
        on identifier_lists.customer_key = sms_consent.customer_key and sms_consent.channel = 'sms'
    left join activity
        on identifier_lists.customer_key = activity.customer_key
    left join interest
        on identifier_lists.customer_key = interest.customer_key
    left join carts
        on identifier_lists.customer_key = carts.customer_key
    left join order_summary
        on identifier_lists.customer_key = order_summary.customer_key
    left join engagement
        on identifier_lists.customer_key = engagement.customer_key

)

select * from final
