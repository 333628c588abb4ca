{#- A JSON object text {key: value, ...} aggregated over rows. -#}
{% macro json_object_agg(key, value) -%}
    {{ return(adapter.dispatch('json_object_agg', 'email_personalization')(key, value)) }}
{%- endmacro %}

{% macro default__json_object_agg(key, value) -%}
    cast(json_group_object({{ key }}, {{ value }}) as {{ dbt.type_string() }})
{%- endmacro %}

{% macro postgres__json_object_agg(key, value) -%}
    cast(json_object_agg({{ key }}, {{ value }}) as {{ dbt.type_string() }})
{%- endmacro %}
