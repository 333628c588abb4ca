{#-
    An 8-byte floating point type. dbt.type_float() renders `float`, which is
    a 4-byte REAL on DuckDB (and Postgres with no precision), so scores would
    lose precision; the project carries its own.
-#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'email_personalization')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}
