{% macro spark__null_safe_equal(left, right) -%}
    ({{ left }} <=> {{ right }})
{%- endmacro %}
