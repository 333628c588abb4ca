{#-
    on-run-start: engine settings taken from the environment.

    DuckDB: DUCKDB_MEMORY_LIMIT (e.g. 8GB) caps the memory of the build; by
    default DuckDB takes 80 % of the machine's RAM, which is too much on a
    machine that runs other work (a 10-million-event build was killed by the
    kernel's OOM killer at 15 GB). Other engines: nothing.
-#}
{% macro session_settings() %}
    {{ return(adapter.dispatch('session_settings', 'email_personalization')()) }}
{% endmacro %}

{% macro default__session_settings() %}
    {{ return('') }}
{% endmacro %}

{% macro duckdb__session_settings() %}
    {%- set limit = env_var('DUCKDB_MEMORY_LIMIT', '') | trim -%}
    {%- if not limit -%}
        {{ return('') }}
    {%- endif -%}
    {%- if not modules.re.fullmatch('[0-9]+(\\.[0-9]+)?\\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)', limit) -%}
        {{ exceptions.raise_compiler_error(
            "DUCKDB_MEMORY_LIMIT=" ~ limit ~ " is not a memory size: use a number and a unit, e.g. 8GB or 512MiB"
        ) }}
    {%- endif -%}
    {{ return("set memory_limit = '" ~ limit ~ "'") }}
{% endmacro %}
