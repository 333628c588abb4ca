{# true when text matches a POSIX-style regular expression (null stays null) #}
{% macro regexp_like(expr, pattern) -%}
    {{ return(adapter.dispatch('regexp_like', 'email_personalization')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regexp_like(expr, pattern) -%}
    regexp_full_match({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{#-
    A lower-case identifier from free text: runs of anything but a-z and 0-9
    become one underscore, leading and trailing underscores are dropped
    ("Can't Lose Them" -> can_t_lose_them). Used to build segment keys.
-#}
{% macro slugify(expr) -%}
    {{ return(adapter.dispatch('slugify', 'email_personalization')(expr)) }}
{%- endmacro %}

{% macro default__slugify(expr) -%}
    trim(both '_' from regexp_replace(lower({{ expr }}), '[^a-z0-9]+', '_', 'g'))
{%- endmacro %}

