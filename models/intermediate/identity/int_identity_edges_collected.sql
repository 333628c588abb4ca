{#-
    Every observed link between two identifiers, from identify calls and events
    (anonymous_id <-> user_id, either <-> email in traits), orders (customer_id,
    email, anonymous_id of one checkout) and CRM records (customer_id <-> email).
    One row per distinct pair, in one direction (left < right); how often and
    where it was seen is kept for auditing.
-#}

with

events as (

    select * from {{ ref('stg_segment__events') }}

),

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

pairs as (

    -- a device used by a known user
    select
        'anonymous_id' as left_type, anonymous_id as left_id,
        'user_id' as right_type, user_id as right_id,
        'events' as link_source, occurred_at as seen_at
    from events
    where anonymous_id is not null and user_id is not null

    union all
    -- identify traits carry the email
    select
        'user_id', user_id, 'email', email, 'identify', occurred_at
    from events
    where user_id is not null and email is not null and {{ is_valid_email('email') }}

    union all
    select
        'anonymous_id', anonymous_id, 'email', email, 'identify', occurred_at
    from events
    where anonymous_id is not null and email is not null and {{ is_valid_email('email') }}

    union all
    -- a checkout ties the buyer's ids together
    select
        'user_id', customer_id, 'email', email, 'orders', ordered_at
    from orders
    where customer_id is not null and email is not null and {{ is_valid_email('email') }}

    union all
    select
        'anonymous_id', anonymous_id, 'user_id', customer_id, 'orders', ordered_at
    from orders
    where anonymous_id is not null and customer_id is not null

    union all
    select
        'anonymous_id', anonymous_id, 'email', email, 'orders', ordered_at
    from orders
    where anonymous_id is not null and email is not null and {{ is_valid_email('email') }}

    union all
    -- the CRM record's email
    select
        'user_id', customer_id, 'email', email, 'crm', updated_at
    from customers
    where email is not null

),

final as (

    select
        left_type,
        left_id,
        right_type,
        right_id,
        count(*) as times_seen,
        count(distinct link_source) as sources_seen,
        min(seen_at) as first_seen_at,
        max(seen_at) as last_seen_at
    from pairs
    group by 1, 2, 3, 4

)

select * from final
