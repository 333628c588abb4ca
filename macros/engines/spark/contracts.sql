{#-
    Contracts on Spark. dbt-spark checks column names and types of a contracted
    model before building it (as on every engine), but enforces not_null
    constraints only on Delta tables (ALTER COLUMN ... SET NOT NULL). The
    project's tables are Parquet (Delta needs jars from Maven at run time), so
    after a contracted table is built its not_null columns are checked with a
    query instead, and the model fails naming the column, as a violated
    constraint would.
-#}
{% macro spark__persist_constraints(relation, model) %}
    {%- set contract_config = config.get('contract') -%}
    {%- if not contract_config.enforced -%}
        {% do return(none) %}
    {%- endif -%}
    {%- if config.get('file_format', 'delta') == 'delta' -%}
        {% do return(dbt_spark.spark__persist_constraints(relation, model)) %}
    {%- endif -%}
    {%- set checks = [] -%}
    {%- for column_name, column in model.columns.items() -%}
        {%- for constraint in column.get('constraints', []) if constraint.type == 'not_null' -%}
            {%- do checks.append(column_name) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if checks | length == 0 -%}
        {% do return(none) %}
    {%- endif -%}
    {%- set query -%}
        select
        {%- for column_name in checks %}
            count(case when {{ adapter.quote(column_name) }} is null then 1 end) as {{ adapter.quote(column_name) }}{% if not loop.last %},{% endif %}
        {%- endfor %}
        from {{ relation }}
    {%- endset -%}
    {%- set counts = run_query(query) -%}
    {%- for column_name in checks -%}
        {%- set nulls = counts.columns[loop.index0].values()[0] -%}
        {%- if nulls > 0 -%}
            {{ exceptions.raise_compiler_error(
                "Contract violated: " ~ relation ~ "." ~ column_name ~ " has a not_null constraint but "
                ~ nulls ~ " rows are null (checked after the build: Parquet tables on Spark have no NOT NULL)."
            ) }}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}
