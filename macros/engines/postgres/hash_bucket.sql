{#- PostgreSQL implementations of the dispatched macros in macros/hash_bucket.sql -#}

{% macro postgres__hash_bucket(expr, buckets) -%}
    ((('x' || substr(md5({{ expr }}), 1, 8))::bit(32)::bigint & 4294967295) % {{ buckets }})
{%- endmacro %}
