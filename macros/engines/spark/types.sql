{% macro spark__type_double() -%}
    double
{%- endmacro %}
