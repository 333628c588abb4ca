{#- Quarantined rows per raw table and reason, for the run summary and BI. -#}

{%- set quarantines = [
    ('events', 'stg_segment__events_quarantine'),
    ('customers', 'stg_crm__customers_quarantine'),
    ('consents', 'stg_crm__consents_quarantine'),
    ('privacy_requests', 'stg_crm__privacy_requests_quarantine'),
    ('orders', 'stg_shop__orders_quarantine'),
    ('order_items', 'stg_shop__order_items_quarantine'),
    ('products', 'stg_shop__products_quarantine'),
    ('email_events', 'stg_esp__email_events_quarantine'),
] -%}

with

reasons as (

    {% for raw_table, quarantine in quarantines %}
        select
            '{{ raw_table }}' as raw_table,
            quarantine_reason,
            count(*) as quarantined_rows
        from {{ ref(quarantine) }}
        group by 1, 2
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        raw_table,
        quarantine_reason,
        cast(quarantined_rows as {{ dbt.type_bigint() }}) as quarantined_rows
    from reasons

)

select * from final
