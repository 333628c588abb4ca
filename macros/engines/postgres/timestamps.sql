{#- PostgreSQL implementations of the dispatched macros in macros/cross_db/timestamps.sql -#}

{% macro postgres__safe_utc_timestamp(expr) -%}
    case
        when pg_input_is_valid({{ expr }}, 'timestamptz')
            then cast({{ expr }} as timestamptz) at time zone 'UTC'
    end
{%- endmacro %}

{% macro postgres__safe_date(expr) -%}
    case when pg_input_is_valid({{ expr }}, 'date') then cast({{ expr }} as date) end
{%- endmacro %}
