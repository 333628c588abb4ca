{#-
    Daily performance of every segment, at the grain of segment_sizes_daily
    (segment_key x UTC day, from its first entry to as_of's date).

    - Conversion: the day's entrants (intervals entered that day) who placed a
      counted order at or after entered_at and at most
      segment_conversion_window_days later, never after as_of. Counted per
      interval, whatever happened to the membership afterwards.
    - Treatment vs control: the same, split by the interval's holdout group,
      with a two-proportion pooled z-test on the conversion rates.
    - Revenue and email: counted orders and ESP events of the day by
      customers who were members at that moment (entered_at <= t < exited_at).

    The history is read as known at as_of, as in segment_sizes_daily.
-#}

{%- set window_days = var('segment_conversion_window_days') %}

with

sizes as (

    select * from {{ ref('segment_sizes_daily') }}

),

history as (

    select * from {{ ref('segment_membership_history') }}

),

orders as (

    select * from {{ ref('orders') }}
    where is_counted and ordered_at <= {{ as_of() }}

),

email_events as (

    select * from {{ ref('stg_esp__email_events') }}
    where
        occurred_at <= {{ as_of() }}
        and email_event_type in ('delivered', 'opened', 'clicked')

),

identities as (

    select * from {{ ref('int_identifiers_stitched') }}
    where identifier_type = 'email'

),

intervals as (

    select
        interval_id,
        customer_key,
        segment_key,
        holdout_group,
        entered_at,
        case when exited_at <= {{ as_of() }} then exited_at end as exited_at
    from history
    where entered_at <= {{ as_of() }}

),

-- each entrant, converted or not
entrants as (

    select
        intervals.interval_id,
        intervals.segment_key,
        intervals.holdout_group,
        intervals.entered_at,
        max(case when orders.order_id is not null then 1 else 0 end) as is_converted
    from intervals
    left join orders
        on
            intervals.customer_key = orders.customer_key
            and intervals.entered_at <= orders.ordered_at
            and orders.ordered_at <= {{ dbt.dateadd('day', window_days, 'intervals.entered_at') }}
    group by 1, 2, 3, 4

),

entries_daily as (

    select
        segment_key,
        cast(entered_at as date) as date_day,
        max(entered_at) as last_entered_at,
        count(*) as entered,
        sum(is_converted) as converted,
        sum(case when holdout_group = 'treatment' then 1 else 0 end) as treatment_entered,
        sum(case when holdout_group = 'treatment' then is_converted else 0 end) as treatment_converted,
        sum(case when holdout_group = 'control' then 1 else 0 end) as control_entered,
        sum(case when holdout_group = 'control' then is_converted else 0 end) as control_converted
    from entrants
    group by 1, 2

),

-- counted orders placed while the buyer was a member
member_orders as (

    select
        intervals.segment_key,
        cast(orders.ordered_at as date) as date_day,
        count(*) as member_orders,
        sum(orders.net_revenue) as member_revenue
    from orders
    inner join intervals
        on
            orders.customer_key = intervals.customer_key
            and orders.ordered_at >= intervals.entered_at
            and (intervals.exited_at is null or orders.ordered_at < intervals.exited_at)
    group by 1, 2

),

keyed_email_events as (

    select
        identities.customer_key,
        email_events.email_event_type,
        email_events.occurred_at
    from email_events
    inner join identities
        on email_events.email = identities.identifier

),

-- ESP events received while the recipient was a member
member_email as (

    select
        intervals.segment_key,
        cast(keyed_email_events.occurred_at as date) as date_day,
        sum(case when keyed_email_events.email_event_type = 'delivered' then 1 else 0 end) as emails_delivered,
        sum(case when keyed_email_events.email_event_type = 'opened' then 1 else 0 end) as email_opens,
        sum(case when keyed_email_events.email_event_type = 'clicked' then 1 else 0 end) as email_clicks
    from keyed_email_events
    inner join intervals
        on
            keyed_email_events.customer_key = intervals.customer_key
            and keyed_email_events.occurred_at >= intervals.entered_at
            and (intervals.exited_at is null or keyed_email_events.occurred_at < intervals.exited_at)
    group by 1, 2

),

joined as (

    select
        sizes.segment_key,
        sizes.segment_family,
        sizes.date_day,
        sizes.members,
        sizes.entered,
        sizes.exited,
        sizes.is_partial_day,
        entries_daily.last_entered_at,
        coalesce(entries_daily.converted, 0) as converted,
        coalesce(entries_daily.treatment_entered, 0) as treatment_entered,
        coalesce(entries_daily.treatment_converted, 0) as treatment_converted,
        coalesce(entries_daily.control_entered, 0) as control_entered,
        coalesce(entries_daily.control_converted, 0) as control_converted,
        coalesce(member_orders.member_orders, 0) as member_orders,
        coalesce(member_orders.member_revenue, 0) as member_revenue,
        coalesce(member_email.emails_delivered, 0) as emails_delivered,
        coalesce(member_email.email_opens, 0) as email_opens,
        coalesce(member_email.email_clicks, 0) as email_clicks
    from sizes
    left join entries_daily
        on
            sizes.segment_key = entries_daily.segment_key
            and sizes.date_day = entries_daily.date_day
    left join member_orders
        on
            sizes.segment_key = member_orders.segment_key
            and sizes.date_day = member_orders.date_day
    left join member_email
        on
            sizes.segment_key = member_email.segment_key
            and sizes.date_day = member_email.date_day

),

rates as (

    select
        *,
        case
            when entered > 0 then cast(converted as {{ type_double() }}) / entered
        end as conversion_rate,
        case
            when treatment_entered > 0 then cast(treatment_converted as {{ type_double() }}) / treatment_entered
        end as treatment_conversion_rate,
        case
            when control_entered > 0 then cast(control_converted as {{ type_double() }}) / control_entered
        end as control_conversion_rate,
        case
            when treatment_entered > 0 and control_entered > 0
                then cast(treatment_converted + control_converted as {{ type_double() }})
                    / (treatment_entered + control_entered)
        end as pooled_conversion_rate
    from joined

),

standard_errors as (

    select
        *,
        case
            when
                pooled_conversion_rate > 0 and pooled_conversion_rate < 1
                and treatment_entered >= {{ var('lift_min_group_size') }}
                and control_entered >= {{ var('lift_min_group_size') }}
                then
                    sqrt(
                        pooled_conversion_rate * (1 - pooled_conversion_rate)
                        * (1.0 / treatment_entered + 1.0 / control_entered)
                    )
        end as standard_error
    from rates

),

z_scores as (

    select
        *,
        (treatment_conversion_rate - control_conversion_rate) / standard_error as z_score
    from standard_errors

),

final as (

    select
        -- ids
        segment_key,
        segment_family,
        date_day,

        -- size (segment_sizes_daily)
        members,
        cast(entered as {{ dbt.type_bigint() }}) as entered,
        cast(exited as {{ dbt.type_bigint() }}) as exited,
        is_partial_day,

        -- conversion of the day's entrants
        cast(converted as {{ dbt.type_bigint() }}) as converted,
        conversion_rate,
        case
            when entered > 0
                then {{ dbt.dateadd('day', window_days, 'last_entered_at') }} <= {{ as_of() }}
            else {{ dbt.dateadd('day', window_days + 1, 'cast(date_day as ' ~ dbt.type_timestamp() ~ ')') }}
                <= {{ as_of() }}
        end as is_conversion_window_complete,

        -- revenue of members
        cast(member_orders as {{ dbt.type_bigint() }}) as member_orders,
        cast(member_revenue as decimal(18, 2)) as member_revenue,
        case
            when members > 0 then cast(member_revenue as {{ type_double() }}) / members
        end as revenue_per_member,

        -- email engagement of members
        cast(emails_delivered as {{ dbt.type_bigint() }}) as emails_delivered,
        cast(email_opens as {{ dbt.type_bigint() }}) as email_opens,
        cast(email_clicks as {{ dbt.type_bigint() }}) as email_clicks,
        case
            when emails_delivered > 0 then cast(email_opens as {{ type_double() }}) / emails_delivered
        end as open_rate,
        case
            when emails_delivered > 0 then cast(email_clicks as {{ type_double() }}) / emails_delivered
        end as click_rate,

        -- treatment vs control among the day's entrants
        cast(treatment_entered as {{ dbt.type_bigint() }}) as treatment_entered,
        cast(treatment_converted as {{ dbt.type_bigint() }}) as treatment_converted,
        treatment_conversion_rate,
        cast(control_entered as {{ dbt.type_bigint() }}) as control_entered,
        cast(control_converted as {{ dbt.type_bigint() }}) as control_converted,
        control_conversion_rate,
        treatment_conversion_rate - control_conversion_rate as conversion_lift,
        -- rounded to 6 decimals: the p-value's normal approximation is good to about 1e-7
        cast(cast(z_score as decimal(18, 6)) as {{ type_double() }}) as lift_z_score,
        cast(
            cast(2 * (1 - {{ normal_cdf('abs(z_score)') }}) as decimal(18, 6)) as {{ type_double() }}
        ) as lift_p_value,

        -- timestamps (UTC)
        {{ as_of() }} as computed_as_of
    from z_scores

)

select * from final
