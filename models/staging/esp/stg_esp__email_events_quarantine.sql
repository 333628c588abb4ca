{#- Raw ESP webhook rows that failed a staging rule, untouched, with the rule they broke. -#}

select
    event_id,
    email,
    campaign_id,
    event_type,
    occurred_at,
    url,
    bounce_type,
    quarantine_reason
from {{ ref('base_esp__email_events') }}
where disposition = 'quarantined'
