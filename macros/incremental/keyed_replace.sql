{#-
    Incremental strategy "keyed_replace": recompute the tail of some
    partitions and replace it.

    For models whose rows belong to a partition key (a device) and start at a
    time (a session start). The model emits, for every partition it
    recomputes, its rows from a point onward, each carrying that point in
    column `replaced_from`, plus one marker row per recomputed partition whose
    `keyed_replace_row_column` is null (so a partition whose rows all vanished
    is still cleared). Config:
        incremental_strategy='keyed_replace',
        keyed_replace_key='device_key',
        keyed_replace_time_column='visit_start',
        keyed_replace_row_column='session_id'

    The strategy deletes every target row of a recomputed partition at or
    after its replaced_from, then inserts the recomputed rows (markers left out).
-#}

{% macro get_incremental_keyed_replace_sql(arg_dict) -%}
    {{ return(adapter.dispatch('get_incremental_keyed_replace_sql', 'email_personalization')(arg_dict)) }}
{%- endmacro %}

{% macro default__get_incremental_keyed_replace_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set key = config.require('keyed_replace_key') -%}
    {%- set time_column = config.require('keyed_replace_time_column') -%}
    {%- set row_column = config.require('keyed_replace_row_column') -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}

    delete from {{ target }}
    where exists (
        select 1
        from {{ source }} as recomputed
        where
            recomputed.{{ key }} = {{ target }}.{{ key }}
            and {{ target }}.{{ time_column }} >= recomputed.replaced_from
    );

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
    where {{ row_column }} is not null
{%- endmacro %}
