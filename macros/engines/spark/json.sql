{#- Spark implementations of the dispatched macros in macros/cross_db/json.sql and json_agg.sql -#}

{#- try_parse_json (Spark 4) is null exactly when the text is not well-formed JSON. -#}
{% macro spark__json_is_valid(expr) -%}
    case when {{ expr }} is not null then try_parse_json({{ expr }}) is not null end
{%- endmacro %}

{% macro spark__json_text(expr, path) -%}
    get_json_object({{ expr }}, '$.{{ path }}')
{%- endmacro %}

{#-
    collect_list has no ORDER BY: collect (sort key, object) structs, sort the
    array, keep the objects. ignoreNullFields=false writes null values as JSON
    null, as the other engines do.
-#}
{% macro spark__json_array_agg_objects(fields, order_by) -%}
    {%- set parts = order_by.split() -%}
    {%- set descending = parts | length > 1 and parts[-1] | lower == 'desc' -%}
    {%- set key = parts[0] if parts | length > 1 else order_by -%}
    case when count(*) > 0 then to_json(
        transform(
            array_sort(collect_list(named_struct(
                'sort_key', {{ key }},
                'item', named_struct(
                    {%- for name, expr in fields %}
                    '{{ name }}', {{ expr }}{% if not loop.last %},{% endif %}
                    {%- endfor %}
                )
            ))
            {%- if descending %}, (left, right) -> case when left.sort_key < right.sort_key then 1 when left.sort_key > right.sort_key then -1 else 0 end{% endif %}),
            entry -> entry.item
        ),
        map('ignoreNullFields', 'false')
    ) end
{%- endmacro %}

{#- Keys in sorted order (the map is built from a sorted array). -#}
{% macro spark__json_object_agg(key, value) -%}
    to_json(map_from_entries(array_sort(collect_list(struct({{ key }}, {{ value }})))))
{%- endmacro %}
