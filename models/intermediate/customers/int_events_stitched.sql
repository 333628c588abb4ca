{{ config(materialized='view') }}

{#-
    Staged events with the customer they belong to: the logged-in user's
    customer when the event carries a user_id, else the device's. A view, so a
    late identify re-keys earlier events on the next read.
-#}

with

events as (

    select * from {{ ref('stg_segment__events') }}

),

identities as (

    select * from {{ ref('int_identifiers_stitched') }}

),

final as (

    select
        coalesce(by_user.customer_key, by_device.customer_key) as customer_key,
        events.*
    from events
    left join identities as by_user
        on by_user.identifier_type = 'user_id' and events.user_id = by_user.identifier
    left join identities as by_device
        on by_device.identifier_type = 'anonymous_id' and events.anonymous_id = by_device.identifier

)

select * from final
