{#- PostgreSQL implementations of the dispatched macros in macros/cross_db/regexp.sql -#}

{% macro postgres__regexp_like(expr, pattern) -%}
    ({{ expr }} ~ '^(?:{{ pattern }})$')
{%- endmacro %}
