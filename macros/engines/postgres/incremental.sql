{#- PostgreSQL implementations of the dispatched macros in macros/incremental/ -#}

{#- MERGE (PostgreSQL 15+): updates closed intervals and inserts new ones in one statement. -#}
{% macro postgres__unique_key_strategy() -%}
    {{ return('merge') }}
{%- endmacro %}
