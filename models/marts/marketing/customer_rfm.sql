{#-
    RFM at as_of(): one row per customer_key with at least one counted order
    (completed, total_amount > 0; see orders.is_counted) placed at or before
    as_of and at most rfm_lookback_days calendar days (UTC) before as_of's date.

    Recency is in calendar days (UTC dates), not elapsed time: an order at
    23:59 yesterday is 1 day old at 00:01 today.

    Scores are quintiles over all scored customers, 5 = best: most recent,
    most frequent, highest spend: score = 1 + floor(5 * (rank - 1) / n), where
    rank is the metric's rank (ties share the lowest rank) and n the number of
    scored customers. Equal metrics always get the same score, whatever the
    row order, so a build is deterministic without an arbitrary tie-breaker;
    with many tied values (one-order customers) a quintile can hold more than
    a fifth. The segment comes from the seed rfm_segment_map, keyed by
    (r_score, f_score).
-#}

with

orders as (

    select * from {{ ref('orders') }}

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

dated_orders as (

    select
        customer_key,
        order_id,
        is_counted,
        net_revenue,
        ordered_at,
        order_date,
        cast({{ as_of() }} as date) as as_of_date
    from orders

),

-- counted orders at or before as_of, at most rfm_lookback_days calendar days old
counted_orders as (

    select
        customer_key,
        order_id,
        net_revenue,
        order_date,
        as_of_date
    from dated_orders
    where
        is_counted
        and customer_key is not null
        and ordered_at <= {{ as_of() }}
        and {{ whole_datediff('order_date', 'as_of_date', 'day') }}
        <= {{ var('rfm_lookback_days') }}

),

customer_metrics as (

    select
        customer_key,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as frequency_orders,
        count(distinct order_date) - 1 as repeat_purchase_frequency,
        sum(net_revenue) as monetary_net_revenue,
        max(as_of_date) as as_of_date
    from counted_orders
    group by 1

),

scored as (

    select
        *,
        {{ whole_datediff('last_order_date', 'as_of_date', 'day') }}
            as recency_days,
        {{ quintile_score('last_order_date') }} as r_score,
        {{ quintile_score('frequency_orders') }} as f_score,
        {{ quintile_score('monetary_net_revenue') }} as m_score
    from customer_metrics

),

final as (

    select
        -- ids
        scored.customer_key,

        -- segment
        segment_map.rfm_segment,
        {{ dbt.concat([
            dbt.safe_cast('scored.r_score', dbt.type_string()),
            dbt.safe_cast('scored.f_score', dbt.type_string()),
            dbt.safe_cast('scored.m_score', dbt.type_string()),
        ]) }} as rfm_cell,
        cast(scored.r_score as {{ dbt.type_int() }}) as r_score,
        cast(scored.f_score as {{ dbt.type_int() }}) as f_score,
        cast(scored.m_score as {{ dbt.type_int() }}) as m_score,

        -- metrics
        cast(scored.recency_days as {{ dbt.type_int() }}) as recency_days,
        cast(scored.frequency_orders as {{ dbt.type_int() }}) as frequency_orders,
        cast(scored.repeat_purchase_frequency as {{ dbt.type_int() }}) as repeat_purchase_frequency,
        cast(scored.monetary_net_revenue as decimal(18, 2)) as monetary_net_revenue,
        {{ decimal_quotient('scored.monetary_net_revenue', 'scored.frequency_orders') }} as mean_order_value,

        -- dates (UTC)
        scored.first_order_date,
        scored.last_order_date,
        {{ as_of() }} as computed_as_of
    from scored
    left join segment_map
        on
            scored.r_score = segment_map.r_score
            and scored.f_score = segment_map.f_score

)

select * from final
