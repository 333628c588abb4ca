{#-
    The disposition of a raw row in a staging ledger (base_* model):
      quarantined  it broke a rule (quarantine_reason is set);
      duplicate    a valid row with the same key ranks first under order_by;
      staged       the valid row that ranks first for its key.
    Expects a column quarantine_reason in scope.
-#}
{% macro staging_disposition(key, order_by) -%}
    case
        when quarantine_reason is not null then 'quarantined'
        when row_number() over (
            partition by {{ key }}, quarantine_reason is null
            order by {{ order_by }}
        ) > 1 then 'duplicate'
        else 'staged'
    end
{%- endmacro %}
