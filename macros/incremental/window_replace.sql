{#-
    Incremental strategy "window_replace": recompute a trailing window and
    replace it.

    A model using it sets
        incremental_strategy='window_replace',
        window_replace_column='received_at',
        window_replace_lookback_hours=<hours>
    and selects only source rows with window_replace_column >= the value of
    incremental_window_start(this) (plus rows where the column is null).

    The window starts `lookback` hours before the newest value already in the
    target, truncated to the hour, so a whole hour is always recomputed at once
    (rules that count per minute or per hour see complete buckets). The
    strategy deletes every target row in the window and inserts the
    recomputed rows, so a row whose outcome changed (for example an event that
    became a duplicate because an earlier copy landed late) is replaced, not
    left behind. Rows before the window are final: a raw row that lands more
    than `lookback` hours after newer rows was processed is only picked up by a
    full refresh (documented in DECISIONLOG.md).
-#}

{# The window start as a timestamp literal, or none when the target has no rows. #}
{% macro incremental_window_start(relation, column, lookback_hours) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select max({{ column }}) from {{ relation }}
    {%- endset -%}
    {%- set newest = run_query(query).columns[0].values()[0] -%}
    {%- if newest is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set start = (newest - modules.datetime.timedelta(hours=lookback_hours | int))
        .replace(minute=0, second=0, microsecond=0) -%}
    {{ return("cast('" ~ start.strftime('%Y-%m-%d %H:%M:%S') ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
{%- endmacro %}

{% macro get_incremental_window_replace_sql(arg_dict) -%}
    {{ return(adapter.dispatch('get_incremental_window_replace_sql', 'email_personalization')(arg_dict)) }}
{%- endmacro %}

{% macro default__get_incremental_window_replace_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set column = config.require('window_replace_column') -%}
    {%- set lookback = config.require('window_replace_lookback_hours') -%}
    {%- set window_start = incremental_window_start(target, column, lookback) -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}

    delete from {{ target }}
    {%- if window_start is not none %}
    where {{ column }} >= {{ window_start }} or {{ column }} is null
    {%- endif %};

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
{%- endmacro %}
