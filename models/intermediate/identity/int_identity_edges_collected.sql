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

{%- set links = [
    ('events', 'anonymous_id', 'anonymous_id', 'user_id', 'user_id', 'events', 'occurred_at'),
    ('events', 'user_id', 'user_id', 'email', 'email', 'identify', 'occurred_at'),
    ('events', 'anonymous_id', 'anonymous_id', 'email', 'email', 'identify', 'occurred_at'),
    ('orders', 'user_id', 'customer_id', 'email', 'email', 'orders', 'ordered_at'),
    ('orders', 'anonymous_id', 'anonymous_id', 'user_id', 'customer_id', 'orders', 'ordered_at'),
    ('orders', 'anonymous_id', 'anonymous_id', 'email', 'email', 'orders', 'ordered_at'),
    ('customers', 'user_id', 'customer_id', 'email', 'email', 'crm', 'updated_at'),
] %}

-- (left type, left column, right type, right column) pairs seen together in one row
pairs as (

    {% for relation, left_type, left_column, right_type, right_column, link_source, seen_at in links %}
        select
            '{{ left_type }}' as left_type,
            {{ left_column }} as left_id,
            '{{ right_type }}' as right_type,
            {{ right_column }} as right_id,
            '{{ link_source }}' as link_source,
            {{ seen_at }} as seen_at
        from {{ relation }}
        where
            {{ left_column }} is not null
            and {{ right_column }} is not null
            {%- if right_type == 'email' %}
                and {{ is_valid_email(right_column) }}
            {%- endif %}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

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
