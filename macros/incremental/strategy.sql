{#-
    The incremental strategy of a model that replaces rows by unique_key
    (segment_membership_history), chosen per engine behind one model config:
        incremental_strategy=unique_key_strategy()
    DuckDB: delete+insert. PostgreSQL (15 or newer): merge, one statement
    (macros/engines/postgres/incremental.sql). An engine without row-level
    deletes (Spark on plain tables) returns its own (merge on Delta,
    insert_overwrite). The result is the same rows on every engine.
    The project's own strategies (window_replace, keyed_replace) are
    dispatched SQL generators in this folder, overridable per engine the
    same way.
-#}
{% macro unique_key_strategy() -%}
    {{ return(adapter.dispatch('unique_key_strategy', 'email_personalization')()) }}
{%- endmacro %}

{% macro default__unique_key_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}
