{#-
    Each customer's one exclusive segment: among the customer's memberships
    (segment_memberships, control groups included, because the holdout is per
    segment) the one whose definition has the lowest priority; ties within a
    for_each family go to the most recently qualified, then the key.
-#}

with

memberships as (

    select * from {{ ref('segment_memberships') }}

),

definitions as (

    select * from {{ ref('segment_definitions') }}

),

ranked as (

    select
        memberships.customer_key,
        memberships.segment_key,
        memberships.segment_family,
        memberships.holdout_group,
        definitions.priority,
        count(*) over (partition by memberships.customer_key) as segment_count,
        row_number() over (
            partition by memberships.customer_key
            order by definitions.priority asc, memberships.qualified_at desc nulls last, memberships.segment_key asc
        ) as priority_rank
    from memberships
    inner join definitions
        on memberships.segment_family = definitions.segment_family

),

final as (

    select
        -- ids
        customer_key,
        segment_key as primary_segment_key,
        segment_family as primary_segment_family,

        -- attributes
        priority as primary_segment_priority,
        holdout_group as primary_segment_holdout_group,
        cast(segment_count as {{ dbt.type_int() }}) as segment_count,
        {{ as_of() }} as computed_as_of
    from ranked
    where priority_rank = 1

)

select * from final
