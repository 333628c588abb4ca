{#- Spark implementations of the dispatched macros in macros/cross_db/regexp.sql -#}

{#-
    rlike finds a match anywhere: anchor it for a full match. Spark string
    literals treat a backslash as an escape character ('\s' is 's'), so the
    pattern's backslashes are doubled.
-#}
{% macro spark__regexp_like(expr, pattern) -%}
    ({{ expr }} rlike '^(?:{{ pattern | replace("\\", "\\\\") }})$')
{%- endmacro %}

{% macro spark__slugify(expr) -%}
    trim(both '_' from regexp_replace(lower({{ expr }}), '[^a-z0-9]+', '_'))
{%- endmacro %}
