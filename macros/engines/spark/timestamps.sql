{#- Spark implementations of the dispatched macros in macros/cross_db/timestamps.sql -#}

{#-
    ISO-8601 text with or without an offset ('Z', '+02:00') as a UTC
    timestamp; null when it does not parse (dbt-spark runs with ANSI mode
    off, so a failed cast is null). The session time zone is UTC.
-#}
{% macro spark__safe_utc_timestamp(expr) -%}
    try_cast({{ expr }} as timestamp)
{%- endmacro %}

{% macro spark__safe_date(expr) -%}
    try_cast({{ expr }} as date)
{%- endmacro %}
