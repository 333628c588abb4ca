{#-
    Who is in which segment at as_of: one row per (customer, segment), built
    from the catalogue in macros/segments/segment_catalogue_yaml.sql (no SQL per
    segment). Each
    segment's condition selects rows of its source; a for_each segment yields
    one segment per value (<key>__<slug of value>). A member of a segment
    listed in another's exclusions is then removed from that other segment
    (exclusions are judged on the rules alone, so they cannot chain or loop).
    Each membership carries its holdout group (macro holdout_group).
-#}

{%- set segments = segment_catalogue() -%}
{%- set sources = {
    'customer': 'features',
    'customer_category': 'category_features',
} -%}
{%- set with_exclusions = segments | selectattr('exclusions') | list %}

-- depends_on: {{ ref('segment_definitions') }}

with

features as (

    select * from {{ ref('int_segment_features_joined') }}

),

category_features as (

    select * from {{ ref('int_segment_category_features_joined') }}

),

{% for segment in segments %}
{%- if segment.for_each %}
    {%- set segment_key = dbt.concat(["'" ~ segment.key ~ "__'", slugify(segment.for_each)]) %}
{%- else %}
    {%- set segment_key = "'" ~ segment.key ~ "'" %}
{%- endif %}
{{ segment.key }}__rule as (

    select
        customer_key,
        cast({{ segment_key }} as {{ dbt.type_string() }}) as segment_key,
        cast('{{ segment.key }}' as {{ dbt.type_string() }}) as segment_family,
        cast({{ segment.qualified_at or as_of() }} as {{ dbt.type_timestamp() }}) as qualified_at,
        {{ holdout_group('customer_key', segment_key, segment.holdout_percent) }} as holdout_group
    from {{ sources[segment.source] }}
    where
        ({{ segment.condition }})
        {%- if segment.for_each %}
        and {{ segment.for_each }} is not null
        {%- endif %}

),

{% endfor -%}

qualified as (

    {%- for segment in segments %}
    select * from {{ segment.key }}__rule
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

excluded as (

    select distinct
        member.customer_key,
        member.segment_key
    from qualified as member
    inner join qualified as blocker
        on member.customer_key = blocker.customer_key
    where
        {%- for segment in with_exclusions %}
        (
            member.segment_family = '{{ segment.key }}'
            and blocker.segment_family in ('{{ segment.exclusions | join("', '") }}')
        )
        {%- if not loop.last %} or{% endif %}
        {%- else %}
        1 = 0
        {%- endfor %}

),

final as (

    select
        -- ids
        qualified.customer_key,
        qualified.segment_key,
        qualified.segment_family,

        -- holdout
        qualified.holdout_group,
        qualified.holdout_group = 'control' as is_holdout,

        -- timestamps (UTC)
        qualified.qualified_at,
        {{ as_of() }} as computed_as_of
    from qualified
    left join excluded
        on
            qualified.customer_key = excluded.customer_key
            and qualified.segment_key = excluded.segment_key
    where excluded.customer_key is null

)

select * from final
