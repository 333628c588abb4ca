{#-
    The current open cart of every customer who has one at as_of(): one row
    per customer_key whose replayed cart (int_cart_lines_replayed) holds at
    least one unit. Customers whose cart is empty (everything removed, or no
    change since their last order) are not here.

    Abandonment: abandoned_at = last_cart_change_at + cart_abandonment_hours
    when that moment is at or before as_of, else null. An order after the last
    change would have closed the cart (the customer would not be here), so
    every cart here is one no order followed.
-#}

{#- in whole minutes, so a fractional var (0.5 = 30 minutes) works on every engine -#}
{%- set abandonment_minutes = (var('cart_abandonment_hours') * 60) | round | int -%}
{%- if abandonment_minutes < 1 -%}
    {{ exceptions.raise_compiler_error(
        "var cart_abandonment_hours = " ~ var('cart_abandonment_hours')
        ~ " must be at least 1 minute (1/60); the default is 1."
    ) }}
{%- endif -%}
{%- set abandoned_at = dbt.dateadd('minute', abandonment_minutes, 'carts.last_cart_change_at') -%}

with

cart_lines as (

    select * from {{ ref('int_cart_lines_replayed') }}

),

carts as (

    select
        customer_key,
        sum(case when is_in_cart then 1 else 0 end) as item_count,
        sum(case when is_in_cart then quantity else 0 end) as units,
        coalesce(sum(case when is_in_cart then line_amount end), 0) as cart_value,
        max(last_changed_at) as last_cart_change_at
    from cart_lines
    group by 1
    having sum(case when is_in_cart then 1 else 0 end) > 0

),

cart_items as (

    select
        customer_key,
        {{ json_array_agg_objects(
            [
                ('product_id', 'product_id'),
                ('quantity', 'quantity'),
                ('unit_price', 'unit_price'),
            ],
            order_by='product_id',
        ) }} as items
    from cart_lines
    where is_in_cart
    group by 1

),

final as (

    select
        -- ids
        carts.customer_key,

        -- contents
        cart_items.items,
        cast(carts.item_count as {{ dbt.type_int() }}) as item_count,
        cast(carts.units as {{ dbt.type_int() }}) as units,
        cast(carts.cart_value as decimal(18, 2)) as cart_value,

        -- timestamps (UTC)
        carts.last_cart_change_at,
        case
            when {{ abandoned_at }} <= {{ as_of() }} then {{ abandoned_at }}
        end as abandoned_at,
        coalesce({{ abandoned_at }} <= {{ as_of() }}, false) as is_abandoned,
        {{ as_of() }} as computed_as_of
    from carts
    inner join cart_items
        on carts.customer_key = cart_items.customer_key

)

select * from final
