{#-
    Product views per customer and category, up to as_of: in the last 7, 30
    and 90 days and in total, with the last view. Feeds the profile's favourite
    category and per-category counts, and category-browser segments.
-#}

with

views as (

    select * from {{ ref('int_events_stitched') }}
    where
        event_name = 'Product Viewed'
        and category is not null
        and occurred_at <= {{ as_of() }}

),

final as (

    select
        customer_key,
        category,
        cast(sum(case when {{ in_last_days('occurred_at', 7) }} then 1 else 0 end) as {{ dbt.type_bigint() }})
            as product_views_7d,
        cast(sum(case when {{ in_last_days('occurred_at', 30) }} then 1 else 0 end) as {{ dbt.type_bigint() }})
            as product_views_30d,
        cast(sum(case when {{ in_last_days('occurred_at', 90) }} then 1 else 0 end) as {{ dbt.type_bigint() }})
            as product_views_90d,
        cast(count(*) as {{ dbt.type_bigint() }}) as product_views_total,
        max(occurred_at) as last_viewed_at
    from views
    group by 1, 2

)

select * from final
