{#-
    dbt's cross-database date macros on Spark. dbt-spark's own datediff and
    dateadd go through unix seconds (dropping fractions of a second, and for
    microseconds parsing the timestamp's text); Spark 4 has exact native
    functions, so these overrides use them with dbt's semantics:
    datediff counts the boundaries of datepart crossed between the two values
    (as DuckDB's date_diff and PostgreSQL do), dateadd adds whole units.
-#}
{% macro spark__datediff(first_date, second_date, datepart) -%}
    {%- set part = datepart | lower -%}
    {%- if part == 'day' -%}
        datediff(cast({{ second_date }} as date), cast({{ first_date }} as date))
    {%- elif part == 'week' -%}
        floor(datediff(date_trunc('week', {{ second_date }}), date_trunc('week', {{ first_date }})) / 7)
    {%- elif part in ('month', 'quarter', 'year') -%}
        {%- set months = '((year(' ~ second_date ~ ') - year(' ~ first_date ~ ')) * 12 + month(' ~ second_date ~ ') - month(' ~ first_date ~ '))' -%}
        {%- if part == 'month' -%}
            {{ months }}
        {%- elif part == 'quarter' -%}
            ((year({{ second_date }}) - year({{ first_date }})) * 4 + quarter({{ second_date }}) - quarter({{ first_date }}))
        {%- else -%}
            (year({{ second_date }}) - year({{ first_date }}))
        {%- endif -%}
    {%- elif part in ('hour', 'minute', 'second') -%}
        {%- set seconds = {'hour': 3600, 'minute': 60, 'second': 1}[part] -%}
        cast((unix_seconds(date_trunc('{{ part }}', cast({{ second_date }} as timestamp)))
            - unix_seconds(date_trunc('{{ part }}', cast({{ first_date }} as timestamp)))) / {{ seconds }} as bigint)
    {%- elif part == 'millisecond' -%}
        (unix_millis(cast({{ second_date }} as timestamp)) - unix_millis(cast({{ first_date }} as timestamp)))
    {%- elif part == 'microsecond' -%}
        (unix_micros(cast({{ second_date }} as timestamp)) - unix_micros(cast({{ first_date }} as timestamp)))
    {%- else -%}
        {{ exceptions.raise_compiler_error("datediff: datepart '" ~ datepart ~ "' is not implemented on Spark (macros/engines/spark/dates.sql)") }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart | upper }}, {{ interval }}, cast({{ from_date_or_timestamp }} as timestamp))
{%- endmacro %}

{#- dbt-spark ignores the order of listagg; Spark 4 has listagg ... within group. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
        {{ exceptions.raise_compiler_error("listagg with limit_num is not implemented on Spark (macros/engines/spark/dates.sql)") }}
    {%- endif -%}
    listagg({{ measure }}, {{ delimiter_text }}){% if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
{%- endmacro %}
