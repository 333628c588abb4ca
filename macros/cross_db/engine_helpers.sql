{#-
    on-run-start: functions an engine needs and does not have, created before
    anything is built (e.g. casts that yield null instead of failing on
    PostgreSQL < 16, macros/engines/postgres/helpers.sql). Nothing on DuckDB.
-#}
{% macro install_engine_helpers() -%}
    {{ return(adapter.dispatch('install_engine_helpers', 'email_personalization')()) }}
{%- endmacro %}

{% macro default__install_engine_helpers() -%}
    {{ return('') }}
{%- endmacro %}
