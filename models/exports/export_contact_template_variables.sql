{#-
    Everything an email template may say to a contact, one row per contact
    (int_email_contacts_selected), with a fallback for every variable so a
    template never receives null. Lists are JSON text (cart_items,
    recommended_products), built from the catalogue so each item carries its
    name, URL and image. Fallbacks are vars (template_default_first_name,
    shop_url, default_product_image_url) or empty values, documented per
    column in the YAML (meta.fallback).
-#}

{%- set recommendations = var('recommendations_per_customer') -%}

with

contacts as (

    select * from {{ ref('int_email_contacts_selected') }}

),

customers as (

    select * from {{ ref('customers') }}

),

products as (

    select * from {{ ref('products') }}

),

cart_lines as (

    select * from {{ ref('int_cart_lines_replayed') }}
    where is_in_cart

),

recommended as (

    select * from {{ ref('customer_recommendations') }}
    where recommendation_rank <= {{ recommendations }}

),

rfm as (

    select * from {{ ref('customer_rfm') }}

),

vip_members as (

    select distinct customer_key from {{ ref('segment_memberships') }}
    where segment_key = 'vip'

),

primary_segments as (

    select * from {{ ref('customer_primary_segment') }}

),

-- cart lines with catalogue details; a line without a known price shows the catalogue price
cart_items as (

    select
        cart_lines.customer_key,
        cart_lines.product_id,
        coalesce(products.product_name, '') as product_name,
        cast(cart_lines.quantity as {{ dbt.type_int() }}) as quantity,
        cast(coalesce(cart_lines.unit_price, products.price, 0) as decimal(18, 2)) as unit_price,
        cast(
            coalesce(cart_lines.line_amount, cart_lines.quantity * coalesce(products.price, 0)) as decimal(18, 2)
        ) as line_amount,
        coalesce(products.product_url, '{{ var("shop_url") }}') as product_url,
        coalesce(products.image_url, '{{ var("default_product_image_url") }}') as image_url
    from cart_lines
    inner join contacts
        on cart_lines.customer_key = contacts.contact_key
    left join products
        on cart_lines.product_id = products.product_id

),

carts as (

    select
        customer_key,
        {{ json_array_agg_objects(
            [
                ('product_id', 'product_id'),
                ('product_name', 'product_name'),
                ('quantity', 'quantity'),
                ('unit_price', 'unit_price'),
                ('line_amount', 'line_amount'),
                ('product_url', 'product_url'),
                ('image_url', 'image_url'),
            ],
            order_by='product_id',
        ) }} as cart_items,
        cast(count(*) as {{ dbt.type_int() }}) as cart_item_count,
        cast(sum(line_amount) as decimal(18, 2)) as cart_value
    from cart_items
    group by 1

),

recommendation_lists as (

    select
        recommended.customer_key,
        {{ json_array_agg_objects(
            [
                ('product_id', 'products.product_id'),
                ('product_name', 'products.product_name'),
                ('category', 'products.category'),
                ('price', 'products.price'),
                ('product_url', 'products.product_url'),
                ('image_url', "coalesce(products.image_url, '" ~ var('default_product_image_url') ~ "')"),
            ],
            order_by='recommended.recommendation_rank',
        ) }} as recommended_products
    from recommended
    inner join contacts
        on recommended.customer_key = contacts.contact_key
    inner join products
        on recommended.product_id = products.product_id
    group by 1

),

final as (

    select
        -- ids
        contacts.contact_key,
        contacts.email,

        -- person
        coalesce(nullif(trim(customers.first_name), ''), '{{ var("template_default_first_name") }}') as first_name,

        -- last viewed product (only when it is still in the catalogue)
        last_viewed.product_id is not null as has_last_viewed_product,
        coalesce(last_viewed.product_id, '') as last_viewed_product_id,
        coalesce(last_viewed.product_name, '') as last_viewed_product_name,
        coalesce(last_viewed.product_url, '{{ var("shop_url") }}') as last_viewed_product_url,
        coalesce(last_viewed.image_url, '{{ var("default_product_image_url") }}') as last_viewed_product_image_url,
        cast(coalesce(last_viewed.price, 0) as decimal(18, 2)) as last_viewed_product_price,

        -- open cart
        carts.customer_key is not null as has_open_cart,
        coalesce(carts.cart_items, '[]') as cart_items,
        coalesce(carts.cart_item_count, 0) as cart_item_count,
        cast(coalesce(carts.cart_value, 0) as decimal(18, 2)) as cart_value,

        -- recommendations
        coalesce(recommendation_lists.recommended_products, '[]') as recommended_products,

        -- value and segments
        coalesce(rfm.rfm_segment, 'unscored') as rfm_segment,
        vip_members.customer_key is not null as is_vip,
        coalesce(customers.orders_lifetime, 0) > 0 as has_ordered,
        coalesce(
            {{ dbt.cast(dbt.cast('customers.last_order_at', 'date'), dbt.type_string()) }}, ''
        ) as last_order_date,
        coalesce(primary_segments.primary_segment_key, 'none') as primary_segment,

        {{ as_of() }} as computed_as_of
    from contacts
    inner join customers
        on contacts.contact_key = customers.customer_key
    left join products as last_viewed
        on customers.last_viewed_product_id = last_viewed.product_id
    left join carts
        on contacts.contact_key = carts.customer_key
    left join recommendation_lists
        on contacts.contact_key = recommendation_lists.customer_key
    left join rfm
        on contacts.contact_key = rfm.customer_key
    left join vip_members
        on contacts.contact_key = vip_members.customer_key
    left join primary_segments
        on contacts.contact_key = primary_segments.customer_key

)

select * from final
