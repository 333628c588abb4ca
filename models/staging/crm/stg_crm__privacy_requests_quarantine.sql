{#- Raw privacy requests that failed a staging rule, untouched, with the rule they broke. -#}

select
    request_id,
    subject_type,
    subject,
    request_type,
    requested_at,
    quarantine_reason
from {{ ref('base_crm__privacy_requests') }}
where disposition = 'quarantined'
