{#-
    An 8-byte floating-point type. dbt.type_float() is a 4-byte FLOAT on
    DuckDB, too coarse for ratios and scores.
-#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'email_personalization')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}
