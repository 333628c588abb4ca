{#-
    Site activity per customer from sessions up to as_of: first and last seen,
    sessions and page views in the last 7, 30 and 90 days.
-#}

with

sessions as (

    select * from {{ ref('sessions') }}
    where session_start <= {{ as_of() }}

),

final as (

    select
        customer_key,

        -- first and last value
        min(session_start) as first_seen_at,
        max(session_end) as last_seen_at,

        -- counts in windows
        {%- for days in [7, 30, 90] %}
            cast(sum(case when {{ in_last_days('session_start', days) }} then 1 else 0 end) as {{ dbt.type_bigint() }})
                as sessions_{{ days }}d,
            cast(
                sum(case when {{ in_last_days('session_start', days) }} then page_views else 0 end)
                as {{ dbt.type_bigint() }}
            ) as page_views_{{ days }}d{% if not loop.last %},{% endif %}
        {%- endfor %}
    from sessions
    group by 1

)

select * from final
