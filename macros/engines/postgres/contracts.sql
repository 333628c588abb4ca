{#-
    Contract data types on PostgreSQL. The contracts use Spark's type names
    (macros/cross_db/types.sql, contract_data_type); PostgreSQL has no type
    called `double`. dbt puts a contract's data_type verbatim into two
    statements: the empty query it compares the model with, and the column
    list of CREATE TABLE. These two overrides of dbt's macros translate the
    types first and then call dbt's own implementation unchanged.
-#}
{% macro postgres__contract_data_type(data_type) -%}
    {%- set spelled = {'double': 'double precision'} -%}
    {{ return(spelled.get(data_type | trim | lower, data_type)) }}
{%- endmacro %}

{% macro postgres__get_empty_schema_sql(columns) -%}
    {{ return(dbt.default__get_empty_schema_sql(contract_columns(columns))) }}
{%- endmacro %}

{#- dbt's table_columns_and_constraints(), reading the translated columns. -#}
{% macro postgres__get_table_columns_and_constraints() -%}
    {%- set raw_column_constraints = adapter.render_raw_columns_constraints(
        raw_columns=contract_columns(model['columns'])
    ) -%}
    {%- set raw_model_constraints = adapter.render_raw_model_constraints(raw_constraints=model['constraints']) -%}
    (
    {% for c in raw_column_constraints -%}
        {{ c }}{{ "," if not loop.last or raw_model_constraints }}
    {% endfor %}
    {% for c in raw_model_constraints -%}
        {{ c }}{{ "," if not loop.last }}
    {% endfor -%}
    )
{%- endmacro %}
