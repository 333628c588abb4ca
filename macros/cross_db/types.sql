{#-
    An 8-byte floating-point type. dbt.type_float() is a 4-byte FLOAT on
    DuckDB, too coarse for ratios and scores.
-#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'email_personalization')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{#-
    The engine's spelling of a contract data_type. Contracts (marts, exports)
    use Spark's type names: string, double, bigint, integer, boolean, date,
    timestamp, decimal(p,s). dbt itself translates `string` on every adapter
    (Column.translate_type: TEXT on DuckDB and PostgreSQL); this macro covers
    the names dbt leaves alone that an engine does not know. It is applied by
    the engine's overrides of dbt's contract macros (get_empty_schema_sql and
    get_table_columns_and_constraints), e.g. macros/engines/postgres/contracts.sql.
-#}
{% macro contract_data_type(data_type) -%}
    {{ return(adapter.dispatch('contract_data_type', 'email_personalization')(data_type)) }}
{%- endmacro %}

{% macro default__contract_data_type(data_type) -%}
    {{ return(data_type) }}
{%- endmacro %}

{#- A copy of a model's columns (name -> column dict) with every data_type in the engine's spelling. -#}
{% macro contract_columns(columns) -%}
    {%- set translated = {} -%}
    {%- for name, column in columns.items() -%}
        {%- set copy = column.copy() -%}
        {%- if column.get('data_type') -%}
            {%- do copy.update({'data_type': contract_data_type(column['data_type'])}) -%}
        {%- endif -%}
        {%- do translated.update({name: copy}) -%}
    {%- endfor -%}
    {{ return(translated) }}
{%- endmacro %}
