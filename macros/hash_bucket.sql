{#-
    A stable bucket in [0, buckets) for a text expression: the first 32 bits of
    its MD5, modulo buckets. Same input, same bucket, on every build and every
    engine (md5 is standard; only the hex-to-integer step differs).
-#}
{% macro hash_bucket(expr, buckets) -%}
    {{ return(adapter.dispatch('hash_bucket', 'email_personalization')(expr, buckets)) }}
{%- endmacro %}

{% macro default__hash_bucket(expr, buckets) -%}
    (cast(('0x' || substr(md5({{ expr }}), 1, 8)) as {{ dbt.type_bigint() }}) % {{ buckets }})
{%- endmacro %}

{#-
    Holdout assignment of a customer for a segment: 'control' for
    holdout_percent (var, 0-100, two decimals) of customers, 'treatment' for
    the rest. Hash of salt, segment and customer, so it is stable across builds
    and independent between segments; change var holdout_salt to reshuffle.
-#}
{% macro holdout_group(customer_key, segment_key, holdout_percent=none) -%}
    {%- set percent = var('holdout_percent') if holdout_percent is none else holdout_percent -%}
    {%- if percent is not number or percent < 0 or percent > 100 -%}
        {{ exceptions.raise_compiler_error(
            "holdout percent " ~ percent ~ " must be a number from 0 to 100 (var holdout_percent, "
            ~ "or holdout_percent on a segment in macros/segments/segment_catalogue_yaml.sql)."
        ) }}
    {%- endif -%}
    case
        when {{ hash_bucket(dbt.concat(["'" ~ var('holdout_salt') ~ "|'", segment_key, "'|'", customer_key]), 10000) }}
            < {{ (percent * 100) | round | int }}
            then 'control'
        else 'treatment'
    end
{%- endmacro %}
