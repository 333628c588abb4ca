{#-
    Quintile score 1..5 of a metric over all rows, higher metric = higher
    score. Ties share a score: 1 + floor(5 * (rank - 1) / n), rank() giving
    tied rows the lowest rank. Deterministic whatever the row order.
-#}
{% macro quintile_score(metric) -%}
    cast(
        1 + floor(5.0 * (rank() over (order by {{ metric }} asc nulls last) - 1) / count(*) over ())
        as {{ dbt.type_int() }}
    )
{%- endmacro %}
