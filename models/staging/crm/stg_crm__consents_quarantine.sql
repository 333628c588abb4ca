{#- Raw consent rows that failed a staging rule, untouched, with the rule they broke. -#}

select
    consent_id,
    subject_type,
    subject,
    channel,
    status,
    source,
    occurred_at,
    quarantine_reason
from {{ ref('base_crm__consents') }}
where disposition = 'quarantined'
