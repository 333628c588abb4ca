{#- The median of a numeric expression (an aggregate; nulls ignored). -#}
{% macro median(expr) -%}
    {{ return(adapter.dispatch('median', 'email_personalization')(expr)) }}
{%- endmacro %}

{% macro default__median(expr) -%}
    median({{ expr }})
{%- endmacro %}

{#-
    The standard normal cumulative distribution function P(Z <= z), portable
    SQL (no erf on most engines): Abramowitz and Stegun 26.2.17, absolute
    error below 7.5e-8. Null stays null.
-#}
{% macro normal_cdf(z) -%}
    {%- set x = 'abs(' ~ z ~ ')' -%}
    {%- set t = '(1.0 / (1.0 + 0.2316419 * ' ~ x ~ '))' -%}
    (case
        when {{ z }} is null then null
        else 0.5 + sign({{ z }}) * (0.5 - (
            exp(-0.5 * {{ x }} * {{ x }}) / sqrt(2.0 * pi())
            * {{ t }} * (0.319381530 + {{ t }} * (-0.356563782 + {{ t }} * (1.781477937
                + {{ t }} * (-1.821255978 + {{ t }} * 1.330274429))))
        ))
    end)
{%- endmacro %}
