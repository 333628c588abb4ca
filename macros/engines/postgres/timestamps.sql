{#- PostgreSQL implementations of the dispatched macros in macros/cross_db/timestamps.sql -#}

{#- try_cast_timestamptz reads text without an offset as UTC (macros/engines/postgres/helpers.sql). -#}
{% macro postgres__safe_utc_timestamp(expr) -%}
    ({{ pg_helper('try_cast_timestamptz') }}({{ expr }}) at time zone 'UTC')
{%- endmacro %}

{% macro postgres__safe_date(expr) -%}
    {{ pg_helper('try_cast_date') }}({{ expr }})
{%- endmacro %}
