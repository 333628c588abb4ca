{#-
    The vocabulary of per-category segment rules (segments with
    `source: customer_category`, e.g. one category-browser segment per
    category): one row per (customer, category) the customer viewed, with
    view counts and the hours since the last view at as_of.
-#}

with

category_views as (

    select * from {{ ref('int_customer_category_views_aggregated') }}

),

final as (

    select
        customer_key,
        category,
        product_views_7d,
        product_views_30d,
        last_viewed_at,
        {{ hours_before_as_of('last_viewed_at') }} as hours_since_last_view,  -- noqa: LT05
        {{ as_of() }} as computed_as_of
    from category_views

)

select * from final
