{#- Ledger of raw CRM rows: one per raw row, with disposition and reason. -#}

with

source as (

    select * from {{ source('raw', 'customers') }}

),

validated as (

    select
        *,
        {{ clean_text('customer_id') }} as clean_customer_id,
        case
            when {{ clean_text('customer_id') }} is null then 'missing_customer_id'
        end as quarantine_reason
    from source

),

final as (

    select
        *,
        -- the CRM re-delivers a record when it changes: the latest version wins
        {{ staging_disposition(
            'clean_customer_id',
            'updated_at desc nulls last, created_at desc nulls last, email nulls last, first_name nulls last, '
            ~ 'last_name nulls last, birth_date nulls last, city nulls last, country nulls last'
        ) }} as disposition
    from validated

)

select * from final
