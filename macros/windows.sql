{#-
    Relative windows, always measured back from as_of():
    in_last_days(ts, 30) is true for as_of - 30 days < ts <= as_of. An event
    exactly 30 days before as_of is outside the window; an event after as_of
    (data newer than the reproduced build time) is in no window.
-#}
{% macro in_last_days(ts, days) -%}
    ({{ ts }} > {{ dbt.dateadd('day', -1 * days, as_of()) }} and {{ ts }} <= {{ as_of() }})
{%- endmacro %}

{% macro in_last_hours(ts, hours) -%}
    ({{ ts }} > {{ dbt.dateadd('hour', -1 * hours, as_of()) }} and {{ ts }} <= {{ as_of() }})
{%- endmacro %}

{#- Whole years between a date of birth and as_of (birthday not reached yet: one less). -#}
{% macro age_at_as_of(birth_date) -%}
    (
        {{ whole_datediff(birth_date, as_of(), 'year') }}
        - case
            when extract(month from {{ as_of() }}) * 100 + extract(day from {{ as_of() }})
                < extract(month from {{ birth_date }}) * 100 + extract(day from {{ birth_date }})
                then 1
            else 0
        end
    )
{%- endmacro %}

{#-
    Fractional hours / days from a timestamp to as_of (negative when it is after
    as_of), exact to the microsecond. Not datediff in seconds: that counts
    second boundaries crossed, so a change at 11:00:00.001 would be a full
    hour old at 12:00:00 although in_last_hours still holds it inside the hour.
-#}
{% macro hours_before_as_of(ts) -%}
    (cast({{ whole_datediff(ts, as_of(), 'microsecond') }} as {{ type_double() }}) / 3600000000.0)
{%- endmacro %}

{% macro days_before_as_of(ts) -%}
    (cast({{ whole_datediff(ts, as_of(), 'microsecond') }} as {{ type_double() }}) / 86400000000.0)
{%- endmacro %}
