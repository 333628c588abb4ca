{#-
    Invariant 1, checked: every raw row is staged, quarantined with a reason,
    or a counted duplicate. One row per raw table; unaccounted_rows must be 0.
-#}

{%- set ledgers = [
    ('events', 'base_segment__events', 'stg_segment__events', 'stg_segment__events_quarantine'),
    ('customers', 'base_crm__customers', 'stg_crm__customers', 'stg_crm__customers_quarantine'),
    ('consents', 'base_crm__consents', 'stg_crm__consents', 'stg_crm__consents_quarantine'),
    ('privacy_requests', 'base_crm__privacy_requests', 'stg_crm__privacy_requests', 'stg_crm__privacy_requests_quarantine'),
    ('orders', 'base_shop__orders', 'stg_shop__orders', 'stg_shop__orders_quarantine'),
    ('order_items', 'base_shop__order_items', 'stg_shop__order_items', 'stg_shop__order_items_quarantine'),
    ('products', 'base_shop__products', 'stg_shop__products', 'stg_shop__products_quarantine'),
    ('email_events', 'base_esp__email_events', 'stg_esp__email_events', 'stg_esp__email_events_quarantine'),
] -%}

with

counts as (

    {% for raw_table, ledger, staged, quarantine in ledgers %}
        select
            '{{ raw_table }}' as raw_table,
            (select count(*) from {{ source('raw', raw_table) }}) as raw_rows,
            (select count(*) from {{ ref(staged) }}) as staged_rows,
            (select count(*) from {{ ref(quarantine) }}) as quarantined_rows,
            (
                select count(*) from {{ ref(ledger) }}
                where disposition = 'duplicate'
            ) as duplicate_rows
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        raw_table,
        raw_rows,
        staged_rows,
        quarantined_rows,
        duplicate_rows,
        raw_rows - staged_rows - quarantined_rows - duplicate_rows as unaccounted_rows
    from counts

)

select * from final
