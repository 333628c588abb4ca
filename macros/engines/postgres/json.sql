{#- PostgreSQL implementations of the dispatched macros in macros/cross_db/json.sql -#}

{% macro postgres__json_is_valid(expr) -%}
    pg_input_is_valid({{ expr }}, 'json')
{%- endmacro %}

{% macro postgres__json_text(expr, path) -%}
    (cast({{ expr }} as json) #>> '{ {{- path.split('.') | join(',') -}} }')
{%- endmacro %}

{% macro postgres__json_array_agg_objects(fields, order_by) -%}
    cast(json_agg(json_build_object(
        {%- for key, expr in fields %}
        '{{ key }}', {{ expr }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    ) order by {{ order_by }}) as {{ dbt.type_string() }})
{%- endmacro %}
