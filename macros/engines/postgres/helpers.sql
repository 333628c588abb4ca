{#-
    Safe casts for PostgreSQL. A failed cast raises an error in PostgreSQL,
    and pg_input_is_valid() only exists from version 16 (Debian 12 ships 15),
    so the project installs small PL/pgSQL functions that return null
    instead, in the target schema, on every run (on-run-start,
    install_engine_helpers). They also hold PostgreSQL to what DuckDB's
    try_cast accepts, so both engines stage the same rows:
      - dates and timestamps must start with a YYYY-MM-DD date: PostgreSQL
        alone would also read 'now', 'today', 'infinity' and 19900517;
      - numbers must be plain decimal or scientific notation (no NaN or
        Infinity), rounded half away from zero to the type's scale, and null
        when they do not fit;
      - text for an integer type may have decimals and is rounded half away
        from zero, as DuckDB does ('3.5' -> 4, '-2.5' -> -3).
    Known remaining difference: fractional seconds beyond microseconds are
    rounded by PostgreSQL and truncated by DuckDB.
    They are parallel unsafe (the default): an exception block starts a
    subtransaction, which PostgreSQL refuses inside a parallel query.
-#}

{#- The qualified name of a helper function. -#}
{% macro pg_helper(name) -%}
    {{ adapter.quote(target.schema) }}.{{ name }}
{%- endmacro %}

{#-
    Session settings the models rely on, checked before anything runs:
    DateStyle ISO (ids hash timestamps cast to text, which must read
    'YYYY-MM-DD HH:MM:SS[.ffffff]' as on DuckDB), and a C collation (text
    tie-breaks in rankings then order by code point, as on DuckDB; any other
    collation gives a warning, since ties between ids may resolve otherwise).
-#}
{% macro postgres__check_session_settings() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set settings = run_query(
        "select current_setting('DateStyle'), datcollate from pg_database where datname = current_database()"
    ).rows[0] -%}
    {%- if not settings[0].startswith('ISO') -%}
        {{ exceptions.raise_compiler_error(
            "PostgreSQL DateStyle is '" ~ settings[0] ~ "'; the project needs ISO (the default). Set it for the "
            ~ "database (ALTER DATABASE " ~ target.dbname ~ " SET DateStyle = 'ISO, MDY') or export PGDATESTYLE=ISO."
        ) }}
    {%- endif -%}
    {%- if settings[1] not in ('C', 'POSIX', 'C.UTF-8', 'C.utf8') -%}
        {%- do exceptions.warn(
            "Database " ~ target.dbname ~ " collates text as " ~ settings[1] ~ ", not C: ties broken by text "
            ~ "(ids, names) may resolve differently than on DuckDB. Create it with LC_COLLATE 'C' for identical results."
        ) -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{% macro postgres__install_engine_helpers() -%}
    {{- postgres__check_session_settings() -}}
    {%- set date_prefix = "'^\\s*\\d{4}-\\d{1,2}-\\d{1,2}'" -%}
    {%- set number = "'^\\s*[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?\\s*$'" -%}
    create schema if not exists {{ adapter.quote(target.schema) }};

    create or replace function {{ pg_helper('try_cast_json') }}(value text) returns json
    language plpgsql immutable as $$
    begin
        return value::json;
    exception when others then
        return null;
    end $$;

    create or replace function {{ pg_helper('try_cast_timestamptz') }}(value text) returns timestamptz
    -- text without an offset is UTC, whatever the session's time zone
    language plpgsql stable set timezone = 'UTC' as $$
    begin
        if value !~ {{ date_prefix }} then
            return null;
        end if;
        return value::timestamptz;
    exception when others then
        return null;
    end $$;

    create or replace function {{ pg_helper('try_cast_date') }}(value text) returns date
    language plpgsql immutable as $$
    begin
        if value !~ ({{ date_prefix }} || '\s*$') then
            return null;
        end if;
        return value::date;
    exception when others then
        return null;
    end $$;

    create or replace function {{ pg_helper('try_cast_decimal') }}(value text, whole_digits integer, scale integer)
    returns numeric
    language plpgsql immutable as $$
    declare
        result numeric;
    begin
        if value !~ {{ number }} then
            return null;
        end if;
        result := round(value::numeric, scale);
        if abs(result) >= 10::numeric ^ whole_digits then
            return null;
        end if;
        return result;
    exception when others then
        return null;
    end $$;

    create or replace function {{ pg_helper('try_cast_integer') }}(value text, lowest numeric, highest numeric)
    returns bigint
    language plpgsql immutable as $$
    declare
        result numeric;
    begin
        if value !~ {{ number }} then
            return null;
        end if;
        result := round(value::numeric);
        if result < lowest or result > highest then
            return null;
        end if;
        return result::bigint;
    exception when others then
        return null;
    end $$;
{%- endmacro %}
