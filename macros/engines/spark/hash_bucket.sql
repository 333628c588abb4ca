{% macro spark__hash_bucket(expr, buckets) -%}
    (cast(conv(substr(md5({{ expr }}), 1, 8), 16, 10) as bigint) % {{ buckets }})
{%- endmacro %}
