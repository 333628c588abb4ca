{#-
    Sessions with the customer they belong to. Sessions are cut per device in
    int_sessions_sessionized; the customer is looked up through the identity
    graph on every build, so a device that identifies later moves all its
    sessions, earlier ones included, to that customer.
-#}

with

sessions as (

    select * from {{ ref('int_sessions_sessionized') }}
    where session_id is not null

),

identities as (

    select * from {{ ref('int_identifiers_stitched') }}

),

channels as (

    select * from {{ ref('int_session_channels_grouped') }}

),

keyed as (

    select
        sessions.*,
        lower({{ dbt.split_part('sessions.referrer', "'/'", 3) }}) as referrer_host,
        -- the logged-in user wins over the device (a flagged shared device keys only itself)
        coalesce(by_user.customer_key, by_device.customer_key) as customer_key
    from sessions
    left join identities as by_user
        on by_user.identifier_type = 'user_id' and sessions.user_id = by_user.identifier
    left join identities as by_device
        on by_device.identifier_type = 'anonymous_id' and sessions.anonymous_id = by_device.identifier

),

final as (

    select
        -- ids
        keyed.session_id,
        keyed.customer_key,
        keyed.device_key,
        keyed.anonymous_id,
        keyed.user_id,
        keyed.tracker_session_id,

        -- timestamps
        keyed.session_start,
        keyed.session_end,
        cast({{ dbt.date_trunc('day', 'keyed.session_start') }} as date) as session_date,
        {{ whole_datediff('keyed.session_start', 'keyed.session_end', 'second') }} as duration_seconds,  -- noqa: LT05

        -- acquisition
        keyed.landing_page,
        keyed.exit_page,
        keyed.referrer,
        keyed.referrer_host,
        keyed.utm_source,
        keyed.utm_medium,
        keyed.utm_campaign,
        keyed.utm_content,
        keyed.utm_term,
        channels.channel_group,
        {{ device_class('keyed.user_agent') }} as device_class,  -- noqa: LT05

        -- behaviour
        keyed.events,
        keyed.page_views,
        keyed.product_views,
        keyed.add_to_carts,
        keyed.has_checkout_started,
        keyed.has_purchased,
        keyed.revenue
    from keyed
    left join channels
        on
            {{ null_safe_equal('lower(keyed.utm_medium)', 'channels.utm_medium') }}
            and {{ null_safe_equal('lower(keyed.utm_source)', 'channels.utm_source') }}
            and {{ null_safe_equal('keyed.referrer_host', 'channels.referrer_host') }}

)

select * from final
