{#-
    numerator / denominator rounded half away from zero to `scale` decimal
    places, exactly, as decimal(18, scale); null when the denominator is 0
    or null. Plain division is not portable: DuckDB divides decimals in
    double precision (1035.86 / 4 = 258.96499.. rounds to 258.96),
    PostgreSQL exactly (258.965 rounds to 258.97). This works in whole units
    of 10^-scale with integer arithmetic, which every engine does exactly,
    and gives the exact answer (258.97) everywhere.
    The numerator has at most `scale` decimals and less than 4.5e15 units
    (45 trillion at scale 2); the denominator is an integer. Integer division
    is floor(a / b) on non-negative integers: exact whether the engine divides
    integers exactly (PostgreSQL) or in doubles (DuckDB; exact below 2^53).
-#}
{% macro decimal_quotient(numerator, denominator, scale=2) -%}
    {%- set factor = 10 ** scale -%}
    {%- set unit = '1' if scale == 0 else '0.' ~ ('0' * (scale - 1)) ~ '1' -%}
    {%- set units = 'cast(abs(' ~ numerator ~ ') * ' ~ factor ~ ' as ' ~ dbt.type_bigint() ~ ')' -%}
    {%- set divisor = 'cast(abs(' ~ denominator ~ ') as ' ~ dbt.type_bigint() ~ ')' -%}
    cast(
        case
            when {{ denominator }} <> 0 then
                (case when ({{ numerator }} < 0) = ({{ denominator }} < 0) then 1 else -1 end)
                * cast(floor((2 * {{ units }} + {{ divisor }}) / (2 * {{ divisor }})) as decimal(18, 0))
                * {{ unit }}
        end
        as decimal(18, {{ scale }})
    )
{%- endmacro %}
