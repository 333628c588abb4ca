{#- Normalisation rules shared by every staging model. -#}

{# Trimmed text, with blank turned into null. #}
{% macro clean_text(expr) -%}
    nullif(trim({{ expr }}), '')
{%- endmacro %}

{# Lowercased, trimmed email; blank becomes null. #}
{% macro normalise_email(expr) -%}
    nullif(lower(trim({{ expr }})), '')
{%- endmacro %}

{# True when a normalised email has one @, a non-empty local part and a dotted domain. #}
{% macro is_valid_email(normalised_expr) -%}
    coalesce({{ regexp_like(normalised_expr, var('email_pattern', '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')) }}, false)
{%- endmacro %}

{# Canonical product id: trimmed, upper case (SKU-000123). #}
{% macro canonical_product_id(expr) -%}
    nullif(upper(trim({{ expr }})), '')
{%- endmacro %}
