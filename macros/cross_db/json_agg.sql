{#-
    A JSON object text {key: value, ...} aggregated over rows, keys in sorted
    order so the text is deterministic (DuckDB's json_group_object is a macro
    and takes no ORDER BY). Keys and values are JSON-encoded by the engine.
-#}
{% macro json_object_agg(key, value) -%}
    {{ return(adapter.dispatch('json_object_agg', 'email_personalization')(key, value)) }}
{%- endmacro %}

{% macro default__json_object_agg(key, value) -%}
    {{ dbt.concat([
        "'{'",
        "string_agg(" ~ dbt.concat([
            "cast(to_json(" ~ key ~ ") as " ~ dbt.type_string() ~ ")",
            "':'",
            "cast(to_json(" ~ value ~ ") as " ~ dbt.type_string() ~ ")",
        ]) ~ ", ',' order by " ~ key ~ ")",
        "'}'",
    ]) }}
{%- endmacro %}
