{# a = b, where two nulls are equal (SQL's IS NOT DISTINCT FROM) #}
{% macro null_safe_equal(left, right) -%}
    {{ return(adapter.dispatch('null_safe_equal', 'email_personalization')(left, right)) }}
{%- endmacro %}

{% macro default__null_safe_equal(left, right) -%}
    ({{ left }} is not distinct from {{ right }})
{%- endmacro %}

