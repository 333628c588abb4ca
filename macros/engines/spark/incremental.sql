{#-
    Incremental models on Spark.

    The project's models name one strategy each (window_replace,
    keyed_replace, delete+insert); on DuckDB and PostgreSQL those are DELETE
    then INSERT. Spark's Parquet tables have no DELETE or MERGE (both need
    Delta Lake, whose jars are fetched from Maven at session start, which this
    project cannot rely on), so on Spark every one of them is a rewrite of the
    target: the rows to keep plus the recomputed rows are written into a
    scratch table first (so nothing still reads the target), then copied back
    with INSERT OVERWRITE. Same rows as the DELETE + INSERT of the other
    engines; the cost is a full-table write per run, fine for the tables that
    use it (the event ledger, sessions, membership history).

    dbt-spark's incremental materialization only knows its own strategies; the
    two macros below, which it calls by name, accept the project's strategies
    as well and hand everything else to dbt-spark unchanged.
-#}

{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
    {%- if raw_strategy in ('window_replace', 'keyed_replace', 'delete+insert') -%}
        {% do return(raw_strategy) %}
    {%- endif -%}
    {% do return(dbt_spark.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) %}
{% endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) %}
    {%- set arg_dict = {
        'target_relation': target,
        'temp_relation': source,
        'unique_key': unique_key,
        'dest_columns': adapter.get_columns_in_relation(target),
        'incremental_predicates': incremental_predicates,
    } -%}
    {%- if strategy == 'window_replace' -%}
        {{ get_incremental_window_replace_sql(arg_dict) }}
    {%- elif strategy == 'keyed_replace' -%}
        {{ get_incremental_keyed_replace_sql(arg_dict) }}
    {%- elif strategy == 'delete+insert' -%}
        {{ spark_keyed_rewrite_sql(arg_dict) }}
    {%- else -%}
        {{ dbt_spark.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) }}
    {%- endif -%}
{% endmacro %}

{#-
    Rewrite target as (kept target rows) union all (new rows). keep_condition
    is a boolean SQL expression over the target's columns (alias kept);
    new_condition filters the source (alias recomputed). Runs the scratch
    table and the overwrite now and returns the statement that drops the
    scratch table (dbt's 'main' statement of the run).
-#}
{% macro spark_rewrite_table(target, source, columns, keep_condition, new_condition='true') %}
    {%- set scratch = target.incorporate(path={'identifier': target.identifier ~ '__dbt_rewrite'}) -%}
    {%- set column_list = get_quoted_csv(columns) -%}
    {%- do run_query('drop table if exists ' ~ scratch) -%}
    {%- set build -%}
        create table {{ scratch }} using parquet as
        select {{ column_list }} from {{ target }} as kept
        where {{ keep_condition }}
        union all
        select {{ column_list }} from {{ source }} as recomputed
        where {{ new_condition }}
    {%- endset -%}
    {%- do run_query(build) -%}
    {%- do run_query('insert overwrite table ' ~ target ~ ' select ' ~ column_list ~ ' from ' ~ scratch) -%}
    drop table if exists {{ scratch }}
{%- endmacro %}

{% macro spark__get_incremental_window_replace_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set column = config.require('window_replace_column') -%}
    {%- set lookback = config.require('window_replace_lookback_hours') -%}
    {%- set window_start = incremental_window_start(target, column, lookback) -%}
    {#- the default deletes rows in the window (and nulls); everything else is kept -#}
    {%- set keep = 'false' if window_start is none else 'kept.' ~ column ~ ' < ' ~ window_start -%}
    {{ spark_rewrite_table(target, arg_dict['temp_relation'], arg_dict['dest_columns'] | map(attribute='name'), keep) }}
{%- endmacro %}

{% macro spark__get_incremental_keyed_replace_sql(arg_dict) -%}
    {%- set key = config.require('keyed_replace_key') -%}
    {%- set time_column = config.require('keyed_replace_time_column') -%}
    {%- set row_column = config.require('keyed_replace_row_column') -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set keep -%}
        not exists (
            select 1 from {{ source }} as replaced
            where replaced.{{ key }} = kept.{{ key }} and kept.{{ time_column }} >= replaced.replaced_from
        )
    {%- endset -%}
    {{ spark_rewrite_table(
        arg_dict['target_relation'], source, arg_dict['dest_columns'] | map(attribute='name'),
        keep, 'recomputed.' ~ row_column ~ ' is not null'
    ) }}
{%- endmacro %}

{#- delete+insert on unique_key: target rows whose key is not recomputed, plus the recomputed rows. -#}
{% macro spark_keyed_rewrite_sql(arg_dict) -%}
    {%- set unique_key = arg_dict['unique_key'] -%}
    {%- set keys = unique_key if unique_key is not string else [unique_key] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set keep -%}
        not exists (
            select 1 from {{ source }} as replaced
            where {% for key in keys %}replaced.{{ key }} = kept.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
        )
    {%- endset -%}
    {{ spark_rewrite_table(arg_dict['target_relation'], source, arg_dict['dest_columns'] | map(attribute='name'), keep) }}
{%- endmacro %}
