{#-
    "Cart Abandoned" trigger events for activation: one row per contact in the
    cart_abandoner segment (consented contacts only), with the cart's lines
    and value. event_id is a hash of the contact and the cart's last change,
    so the same abandoned cart is one event however often the sync runs, and
    a cart changed and abandoned again is a new event. Control-group members
    are present with is_holdout = true: activation must not send them.
-#}

with

memberships as (

    select * from {{ ref('export_segment_memberships') }}
    where segment_key = 'cart_abandoner'

),

variables as (

    select * from {{ ref('export_contact_template_variables') }}

),

carts as (

    select * from {{ ref('customer_carts') }}

),

final as (

    select
        -- ids
        {{ dbt.hash(dbt.concat([
            'memberships.contact_key', "'|'", dbt.cast('carts.last_cart_change_at', dbt.type_string())
        ])) }} as event_id,
        memberships.contact_key,
        memberships.email,

        -- cart
        variables.cart_items,
        variables.cart_item_count,
        variables.cart_value,
        memberships.is_holdout,

        -- timestamps (UTC)
        carts.last_cart_change_at,
        carts.abandoned_at
    from memberships
    inner join variables
        on memberships.contact_key = variables.contact_key
    inner join carts
        on memberships.contact_key = carts.customer_key

)

select * from final
