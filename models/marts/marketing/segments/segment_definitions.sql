{#-
    The segment catalogue (macros/segments/segment_catalogue_yaml.sql) as a table:
    one row per declared segment. Rendered from the YAML, so it always shows
    the rules the memberships were built with.
-#}

{%- set segments = segment_catalogue() -%}


with

catalogue as (

    {%- for segment in segments %}
        select
            {{ catalogue_text(segment.key) }} as segment_family,
            {{ catalogue_text(segment.name) }} as segment_name,
            {{ catalogue_text(segment.description) }} as description,
            {{ catalogue_text(segment.owner) }} as segment_owner,
            cast({{ segment.priority }} as {{ dbt.type_int() }}) as priority,
            {{ catalogue_text(segment.source) }} as rule_source,
            {{ catalogue_text(segment.for_each) }} as for_each,
            {{ catalogue_text(segment.condition) }} as condition_sql,
            {{ catalogue_text(segment.qualified_at) }} as qualified_at_sql,
            cast('{{ segment.exclusions | join(",") }}' as {{ dbt.type_string() }})
                as exclusions,
            cast({{ segment.holdout_percent }} as {{ type_double() }}) as holdout_percent
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

final as (

    select * from catalogue

)

select * from final
