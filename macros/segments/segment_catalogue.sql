{#-
    The segment catalogue (macros/segments/segment_catalogue_yaml.sql),
    parsed and validated: a list of segments with every optional field
    filled in. A mistake fails the build with the segment and the fix.
-#}
{% macro segment_catalogue() -%}
    {%- set segments = fromyaml(segment_catalogue_yaml()) -%}
    {%- if segments is none or segments is string or segments is mapping -%}
        {{ exceptions.raise_compiler_error(
            "segment_catalogue_yaml() must hold a YAML list of segments (- key: ...)."
        ) }}
    {%- endif -%}
    {{ return(validate_segment_catalogue(segments)) }}
{%- endmacro %}

{% macro validate_segment_catalogue(segments) -%}
    {%- set where = "segment catalogue (macros/segments/segment_catalogue_yaml.sql): " -%}
    {%- set required = ['key', 'name', 'description', 'owner', 'priority', 'condition'] -%}
    {%- set allowed = required + ['source', 'for_each', 'qualified_at', 'exclusions', 'holdout_percent'] -%}
    {%- set sources = ['customer', 'customer_category'] -%}
    {%- set keys = segments | map(attribute='key') | list -%}
    {%- set validated = [] -%}
    {%- if segments | length == 0 -%}
        {{ exceptions.raise_compiler_error(where ~ "the list is empty: declare at least one segment.") }}
    {%- endif -%}
    {%- for segment in segments -%}
        {%- set label = where ~ "segment " ~ (segment.get('key') or ('#' ~ loop.index)) ~ ": " -%}
        {%- for field in required if segment.get(field) is none or segment.get(field) == '' -%}
            {{ exceptions.raise_compiler_error(label ~ "'" ~ field ~ "' is required (" ~ required | join(', ') ~ ").") }}
        {%- endfor -%}
        {%- for field in segment.keys() if field not in allowed -%}
            {{ exceptions.raise_compiler_error(
                label ~ "unknown field '" ~ field ~ "'; the fields are " ~ allowed | join(', ') ~ "."
            ) }}
        {%- endfor -%}
        {%- if modules.re.match('^[a-z][a-z0-9_]*$', segment.key) is none or '__' in segment.key -%}
            {{ exceptions.raise_compiler_error(
                label ~ "key must be lower_snake_case (a-z, 0-9, single underscores), e.g. cart_abandoner."
            ) }}
        {%- endif -%}
        {%- if keys.count(segment.key) > 1 -%}
            {{ exceptions.raise_compiler_error(label ~ "the key is declared twice; keys must be unique.") }}
        {%- endif -%}
        {%- if segment.priority is not number -%}
            {{ exceptions.raise_compiler_error(label ~ "priority must be a number (lower wins the primary segment).") }}
        {%- endif -%}
        {%- set source = segment.get('source') or 'customer' -%}
        {%- if source not in sources -%}
            {{ exceptions.raise_compiler_error(
                label ~ "source '" ~ source ~ "' is unknown; use one of " ~ sources | join(', ') ~ "."
            ) }}
        {%- endif -%}
        {%- set exclusions = segment.get('exclusions') or [] -%}
        {%- if exclusions is string -%}
            {{ exceptions.raise_compiler_error(label ~ "exclusions must be a list of segment keys, e.g. [cart_abandoner].") }}
        {%- endif -%}
        {%- for excluded in exclusions if excluded not in keys or excluded == segment.key -%}
            {{ exceptions.raise_compiler_error(
                label ~ "exclusion '" ~ excluded ~ "' is not another segment's key; declared keys: "
                ~ keys | join(', ') ~ "."
            ) }}
        {%- endfor -%}
        {%- set percent = segment.get('holdout_percent', var('holdout_percent')) -%}
        {%- if percent is not number or percent < 0 or percent > 100 -%}
            {{ exceptions.raise_compiler_error(label ~ "holdout_percent must be a number from 0 to 100.") }}
        {%- endif -%}
        {%- do validated.append({
            'key': segment.key,
            'name': segment.name,
            'description': segment.description,
            'owner': segment.owner,
            'priority': segment.priority,
            'condition': segment.condition | trim,
            'source': source,
            'for_each': segment.get('for_each'),
            'qualified_at': (segment.get('qualified_at') or '') | trim,
            'exclusions': exclusions,
            'holdout_percent': percent,
        }) -%}
    {%- endfor -%}
    {{ return(validated) }}
{%- endmacro %}

{#- A text literal for a value from the catalogue (quotes doubled); null when empty. -#}
{% macro catalogue_text(value) -%}
    {%- if value is none or value == '' -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        cast('{{ value | string | replace("'", "''") }}' as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}
