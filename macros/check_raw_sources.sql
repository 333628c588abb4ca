{#-
    on-run-start: fail fast when a raw table the project reads is missing.

    The message names the var to set, because a wrong schema or table name is a
    configuration error, not a data error. Disable with
    --vars '{check_raw_sources: false}'.
-#}
{% macro check_raw_sources() %}
    {%- if not execute or not var('check_raw_sources', true) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set missing = [] -%}
    {%- for node in graph.sources.values() if node.source_name == 'raw' -%}
        {%- set relation = adapter.get_relation(
            database=node.database, schema=node.schema, identifier=node.identifier
        ) -%}
        {%- if relation is none -%}
            {%- do missing.append(
                "  - " ~ node.database ~ "." ~ node.schema ~ "." ~ node.identifier
                ~ " (source raw." ~ node.name ~ "): set var raw_" ~ node.name ~ "_table"
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if missing | length > 0 -%}
        {{ exceptions.raise_compiler_error(
            "Raw tables not found:\n" ~ (missing | join("\n"))
            ~ "\nPoint the project at your raw data with --vars "
            ~ "'{raw_database: <db>, raw_schema: <schema>, raw_<table>_table: <name>}' "
            ~ "(defaults: target database, schema 'raw'), or generate sample data with "
            ~ "`python -m datagen generate`."
        ) }}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}
