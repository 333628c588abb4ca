{#-
    JSON helpers over JSON held as text. Raw payloads can be malformed, so
    every extraction is null-safe: use json_if_valid() first, then extract.
    Engine differences live here (default__ and duckdb__) and in
    macros/engines/<engine>/ (postgres__, ...), never in models.
-#}

{# true when text is well-formed JSON (null stays null) #}
{% macro json_is_valid(expr) -%}
    {{ return(adapter.dispatch('json_is_valid', 'email_personalization')(expr)) }}
{%- endmacro %}

{% macro default__json_is_valid(expr) -%}
    json_valid({{ expr }})
{%- endmacro %}

{# the text itself when it is valid JSON, else null #}
{% macro json_if_valid(expr) -%}
    case when {{ json_is_valid(expr) }} then {{ expr }} end
{%- endmacro %}

{#
    Scalar at a path as text. path is a dotted path of object keys, e.g.
    'page.url'. The input must be valid JSON or null (see json_if_valid).
#}
{% macro json_text(expr, path) -%}
    {{ return(adapter.dispatch('json_text', 'email_personalization')(expr, path)) }}
{%- endmacro %}

{% macro default__json_text(expr, path) -%}
    json_extract_string({{ expr }}, '$.{{ path }}')
{%- endmacro %}

{#-
    Aggregate: a JSON array (as text) with one object per row of the group.
    fields is a list of (key, expression) pairs, in the order the keys should
    appear; order_by fixes the order of the objects, so the text is
    deterministic. An empty group gives null (not '[]').

        {{ json_array_agg_objects(
            [('product_id', 'product_id'), ('quantity', 'quantity')],
            order_by='product_id'
        ) }}

    The text is the same on every engine: compact (no whitespace), keys in
    the given order, each value as the engine's to_json() writes it: numbers
    as JSON numbers with a decimal's scale kept (12.50), text escaped, null as
    null. Only decimals, integers, text and booleans are portable this way
    (floats and timestamps print differently per engine).
-#}
{% macro json_array_agg_objects(fields, order_by) -%}
    {{ return(adapter.dispatch('json_array_agg_objects', 'email_personalization')(fields, order_by)) }}
{%- endmacro %}

{#-
    Written out as text: each value through to_json() (which keeps a
    decimal's scale, where DuckDB's json_object() prints 5.00 as 5.0 and
    PostgreSQL's json_build_object() adds spaces), objects joined in order.
-#}
{% macro default__json_array_agg_objects(fields, order_by) -%}
    {%- set parts = ["'{'"] -%}
    {%- for key, expr in fields -%}
        {%- do parts.append("'" ~ (',' if not loop.first else '') ~ '"' ~ key ~ '":' ~ "'") -%}
        {%- do parts.append("coalesce(cast(to_json(" ~ expr ~ ") as " ~ dbt.type_string() ~ "), 'null')") -%}
    {%- endfor -%}
    {%- do parts.append("'}'") -%}
    {{ dbt.concat(["'['", dbt.listagg(dbt.concat(parts), "','", 'order by ' ~ order_by), "']'"]) }}
{%- endmacro %}

