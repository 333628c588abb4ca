{#-
    Shop orders, latest version of each, normalised. Cancelled, refunded and
    zero-value orders are kept and flagged: marts decide what counts.
-#}

with

ledger as (

    select * from {{ ref('base_shop__orders') }}
    where disposition = 'staged'

),

final as (

    select
        -- ids
        clean_order_id as order_id,
        {{ clean_text('customer_id') }} as customer_id,
        {{ normalise_email('email') }} as email,
        {{ clean_text('anonymous_id') }} as anonymous_id,

        -- status
        lower(trim(status)) as order_status,
        lower(trim(status)) = 'completed' as is_completed,
        total_amount = 0 as is_zero_value,

        -- amounts
        upper({{ clean_text('currency') }}) as currency,
        total_amount,
        -- typed explicitly: the type of coalesce(decimal, 0) differs between engines
        cast(coalesce(discount_amount, 0) as decimal(18, 2)) as discount_amount,
        cast(coalesce(shipping_amount, 0) as decimal(18, 2)) as shipping_amount,

        -- timestamps
        created_at as ordered_at,
        updated_at
    from ledger

)

select * from final
