{#- PostgreSQL implementations of the dispatched macros in macros/cross_db/json.sql -#}

{#- null stays null, as with DuckDB's json_valid -#}
{% macro postgres__json_is_valid(expr) -%}
    (case when {{ expr }} is not null then {{ pg_helper('try_cast_json') }}({{ expr }}) is not null end)
{%- endmacro %}

{% macro postgres__json_text(expr, path) -%}
    (cast({{ expr }} as json) #>> '{ {{- path.split('.') | join(',') -}} }')
{%- endmacro %}
