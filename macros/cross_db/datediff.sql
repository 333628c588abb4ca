{#-
    dbt.datediff as a bigint on every engine: the number of `datepart`
    boundaries crossed from first to second. dbt's PostgreSQL implementation
    returns double precision (date_part), DuckDB's a BIGINT; a contract
    column or an integer division must not depend on that.
-#}
{% macro whole_datediff(first, second, datepart) -%}
    cast({{ dbt.datediff(first, second, datepart) }} as {{ dbt.type_bigint() }})
{%- endmacro %}
