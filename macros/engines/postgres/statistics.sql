{#- PostgreSQL implementations of the dispatched macros in macros/cross_db/statistics.sql -#}

{% macro postgres__median(expr) -%}
    percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}
