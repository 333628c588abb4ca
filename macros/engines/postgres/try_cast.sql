{#- PostgreSQL implementation of try_cast (macros/cross_db/try_cast.sql), through the helper functions. -#}
{% macro postgres__try_cast(expr, data_type) -%}
    {%- set kind = data_type | trim | lower -%}
    {%- set decimal = modules.re.match('^(decimal|numeric)\\s*\\(\\s*(\\d+)\\s*,\\s*(\\d+)\\s*\\)$', kind) -%}
    {%- set integers = {
        'smallint': (-32768, 32767),
        'int': (-2147483648, 2147483647),
        'integer': (-2147483648, 2147483647),
        'bigint': (-9223372036854775808, 9223372036854775807),
    } -%}
    {%- if decimal -%}
        {%- set precision = decimal.group(2) | int -%}
        {%- set scale = decimal.group(3) | int -%}
        cast({{ pg_helper('try_cast_decimal') }}({{ expr }}, {{ precision - scale }}, {{ scale }}) as numeric({{ precision }}, {{ scale }}))
    {%- elif kind in integers -%}
        cast({{ pg_helper('try_cast_integer') }}({{ expr }}, {{ integers[kind][0] }}, {{ integers[kind][1] }}) as {{ kind }})
    {%- elif kind == 'date' -%}
        {{ pg_helper('try_cast_date') }}({{ expr }})
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "try_cast to " ~ data_type ~ " has no PostgreSQL implementation; add one to "
            ~ "macros/engines/postgres/try_cast.sql (and a helper in helpers.sql)."
        ) }}
    {%- endif -%}
{%- endmacro %}
