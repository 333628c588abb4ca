{#- Fails on every row whose column is below min_value or above max_value (inclusive bounds; either may be omitted). Nulls pass. -#}
{% test within_range(model, column_name, min_value=none, max_value=none) %}

    select {{ column_name }}
    from {{ model }}
    where
        {%- if min_value is not none %}
            {{ column_name }} < {{ min_value }}
        {%- endif %}
        {%- if min_value is not none and max_value is not none %}
            or
        {%- endif %}
        {%- if max_value is not none %}
            {{ column_name }} > {{ max_value }}
        {%- endif %}
        {%- if min_value is none and max_value is none %}
            1 = 0
        {%- endif %}

{% endtest %}
