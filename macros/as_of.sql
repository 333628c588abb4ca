{#-
    The reference time of the build, as a timestamp literal (UTC, naive).

    Every relative window ("last 24 hours") is measured back from as_of, so a
    build is reproducible: `dbt build --vars '{as_of: "2026-11-22 12:00:00"}'`.
    Without the var it is the time the dbt invocation started.
-#}
{% macro as_of() -%}
    cast('{{ as_of_text() }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- as_of as text, 'YYYY-MM-DD HH:MM:SS[.f]': the same on every engine (for ids). -#}
{% macro as_of_text() -%}
    {%- set value = var('as_of', none) -%}
    {%- if value is none or value == '' -%}
        {%- set value = run_started_at.strftime('%Y-%m-%d %H:%M:%S') -%}
    {%- else -%}
        {%- set value = value | string -%}
        {%- if modules.re.match('^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$', value) is none -%}
            {{ exceptions.raise_compiler_error(
                "var as_of = '" ~ value ~ "' is not a timestamp. Set it as "
                ~ "'YYYY-MM-DD HH:MM:SS' (UTC), e.g. --vars '{as_of: \"2026-11-22 12:00:00\"}', "
                ~ "or leave it unset to use the run start time."
            ) }}
        {%- endif -%}
        {%- set value = value | replace('T', ' ') -%}
    {%- endif -%}
    {{- value -}}
{%- endmacro %}
