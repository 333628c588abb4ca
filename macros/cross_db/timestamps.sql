{#-
    Parse ISO-8601 text (with or without a UTC offset, 'Z' or '+02:00') into a
    naive UTC timestamp; text that does not parse gives null instead of failing.
-#}
{% macro safe_utc_timestamp(expr) -%}
    {{ return(adapter.dispatch('safe_utc_timestamp', 'email_personalization')(expr)) }}
{%- endmacro %}

{% macro default__safe_utc_timestamp(expr) -%}
    timezone('UTC', try_cast({{ expr }} as timestamptz))
{%- endmacro %}

{# Text that parses as a date (YYYY-MM-DD), else null. #}
{% macro safe_date(expr) -%}
    {{ return(adapter.dispatch('safe_date', 'email_personalization')(expr)) }}
{%- endmacro %}

{% macro default__safe_date(expr) -%}
    try_cast({{ expr }} as date)
{%- endmacro %}

{#-
    base shifted back by (later - earlier), exactly, for any distance:
    Segment's clock-skew correction received_at - (sent_at - timestamp).
    (A dateadd in milliseconds overflows 32-bit intervals past ~24 days.)
-#}
{% macro shift_back_by_difference(base, later, earlier) -%}
    {{ return(adapter.dispatch('shift_back_by_difference', 'email_personalization')(base, later, earlier)) }}
{%- endmacro %}

{% macro default__shift_back_by_difference(base, later, earlier) -%}
    ({{ base }} - ({{ later }} - {{ earlier }}))
{%- endmacro %}
