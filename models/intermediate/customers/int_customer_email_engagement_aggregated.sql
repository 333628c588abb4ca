{#-
    Email engagement per customer, from ESP webhooks up to as_of. A send is a
    delivery attempt (delivered or bounced). Bounced counts hard bounces only
    (a soft bounce is transient).
-#}

with

email_events as (

    select * from {{ ref('stg_esp__email_events') }}
    where occurred_at <= {{ as_of() }}

),

identities as (

    select * from {{ ref('int_identifiers_stitched') }}
    where identifier_type = 'email'

),

keyed as (

    select
        identities.customer_key,
        email_events.*
    from email_events
    inner join identities
        on email_events.email = identities.identifier

),

final as (

    {%- set counts = [
        ('sends', "email_event_type in ('delivered', 'bounced')"),
        ('opens', "email_event_type = 'opened'"),
        ('clicks', "email_event_type = 'clicked'"),
    ] %}

    select
        customer_key,

        -- counts in windows
        {%- for name, condition in counts %}
            {%- for days in [30, 90] %}
                cast(
                    sum(case when {{ condition }} and {{ in_last_days('occurred_at', days) }} then 1 else 0 end)
                    as {{ dbt.type_bigint() }}
                ) as email_{{ name }}_{{ days }}d,
            {%- endfor %}
        {%- endfor %}

        -- last values
        max(case when email_event_type = 'opened' then occurred_at end) as last_email_opened_at,
        max(case when email_event_type = 'clicked' then occurred_at end) as last_email_clicked_at,

        -- states
        max(case when email_event_type = 'bounced' and bounce_type = 'hard' then 1 else 0 end) = 1
            as has_hard_bounced,
        max(case when email_event_type = 'unsubscribed' then 1 else 0 end) = 1 as has_unsubscribed,
        max(case when email_event_type = 'spam_complaint' then 1 else 0 end) = 1 as has_complained
    from keyed
    group by 1

)

select * from final
