{{ config(error_if='>0', fail_calc='count(*)') }}

{#-
    On as_of's date, segment_sizes_daily counts exactly the members in
    segment_memberships, per segment and holdout group. Checked only when both
    were computed at the same as_of and the history has no change after it
    (a build that reproduces an older as_of reads a history written later).
-#}

with

sizes as (

    select * from {{ ref('segment_sizes_daily') }}
    where is_partial_day

),

memberships as (

    select * from {{ ref('segment_memberships') }}

),

history as (

    select * from {{ ref('segment_membership_history') }}

),

last_change as (

    select max(coalesce(exited_at, entered_at)) as last_changed_at
    from history

),

-- memberships computed at this build's as_of
same_as_of as (

    select count(*) as membership_rows
    from memberships
    where computed_as_of = {{ as_of() }}

),

current_counts as (

    select
        segment_key,
        count(*) as members,
        sum(case when holdout_group = 'treatment' then 1 else 0 end) as treatment_members,
        sum(case when holdout_group = 'control' then 1 else 0 end) as control_members
    from memberships
    group by 1

),

compared as (

    select
        coalesce(sizes.segment_key, current_counts.segment_key) as segment_key,
        coalesce(sizes.members, 0) as size_members,
        coalesce(current_counts.members, 0) as membership_members,
        coalesce(sizes.treatment_members, 0) as size_treatment_members,
        coalesce(current_counts.treatment_members, 0) as membership_treatment_members,
        coalesce(sizes.control_members, 0) as size_control_members,
        coalesce(current_counts.control_members, 0) as membership_control_members
    from sizes
    full outer join current_counts
        on sizes.segment_key = current_counts.segment_key

)

select compared.*
from compared
cross join last_change
cross join same_as_of
where
    same_as_of.membership_rows > 0
    and last_change.last_changed_at <= {{ as_of() }}
    and (
        compared.size_members != compared.membership_members
        or compared.size_treatment_members != compared.membership_treatment_members
        or compared.size_control_members != compared.membership_control_members
    )
