{#- Ledger of raw order rows: one per raw row, with disposition and reason. -#}

with

source as (

    select * from {{ source('raw', 'orders') }}

),

validated as (

    select
        *,
        {{ clean_text('order_id') }} as clean_order_id,
        case
            when {{ clean_text('order_id') }} is null then 'missing_order_id'
            when total_amount < 0 then 'negative_total'
            when lower({{ clean_text('status') }}) not in ('completed', 'cancelled', 'refunded')
                or {{ clean_text('status') }} is null then 'unknown_order_status'
            when {{ clean_text('customer_id') }} is null
                and {{ clean_text('email') }} is null
                and {{ clean_text('anonymous_id') }} is null then 'missing_buyer'
            when created_at is null then 'missing_created_at'
        end as quarantine_reason
    from source

),

final as (

    select
        *,
        -- an order is re-delivered when its status changes: the latest version wins
        {{ staging_disposition(
            'clean_order_id',
            'updated_at desc nulls last, status, total_amount nulls last, created_at, customer_id nulls last, '
            ~ 'email nulls last, anonymous_id nulls last, currency nulls last, discount_amount nulls last, '
            ~ 'shipping_amount nulls last'
        ) }} as disposition
    from validated

)

select * from final
