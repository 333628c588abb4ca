{#-
    Custom schemas are used as-is (staging, marts, exports, seeds) so BI tools
    and activation find stable names. A model without a custom schema lands in
    the target schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
