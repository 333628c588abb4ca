{#-
    The identity graph resolved: one row per identifier (anonymous_id, user_id,
    email) with the customer_key of the person it belongs to.

    Identifiers linked directly or through any chain of links (up to
    identity_max_hops) share a customer_key. Stitching is retroactive: the map
    is rebuilt from all links on every run, and events, sessions and orders are
    keyed through it, so an identify arriving today re-keys that device's
    earlier events on the next build.

    Explosion guard: an identifier linked to more identifiers of one type than
    the identity_max_* vars allow (a shared family computer, a test email used
    by hundreds of sign-ups) is flagged and none of its links are used; it
    keeps a customer_key of its own.

    customer_key is the md5 of the component's representative identifier:
    its smallest user_id, else its smallest email, else its smallest
    anonymous_id, so it is stable as long as that identifier stays in the
    component.
-#}

{%- set limits = [
    ('anonymous_id', 'user_id', var('identity_max_user_ids_per_anonymous_id')),
    ('anonymous_id', 'email', var('identity_max_emails_per_anonymous_id')),
    ('email', 'user_id', var('identity_max_user_ids_per_email')),
    ('user_id', 'email', var('identity_max_emails_per_user_id')),
    ('user_id', 'anonymous_id', var('identity_max_anonymous_ids_per_user_id')),
] -%}

with

edges as (

    select * from {{ ref('int_identity_edges_collected') }}

),

{%- set observed = [
    ('stg_segment__events', 'anonymous_id', 'anonymous_id', 'true'),
    ('stg_segment__events', 'user_id', 'user_id', 'true'),
    ('stg_segment__events', 'email', 'email', 'true'),
    ('stg_crm__customers', 'user_id', 'customer_id', 'true'),
    ('stg_crm__customers', 'email', 'email', 'true'),
    ('stg_shop__orders', 'user_id', 'customer_id', 'true'),
    ('stg_shop__orders', 'email', 'email', 'true'),
    ('stg_shop__orders', 'anonymous_id', 'anonymous_id', 'true'),
    ('stg_crm__consents', 'user_id', 'subject', "subject_type = 'customer_id'"),
    ('stg_crm__consents', 'email', 'subject', "subject_type = 'email'"),
    ('stg_esp__email_events', 'email', 'email', 'true'),
] %}

-- every identifier seen anywhere, linked or not (a newsletter-only email
-- with a consent is a customer too)
observed_identifiers as (

    {% for relation, identifier_type, column, condition in observed %}
        -- distinct per source: ten million events hold a few million identifiers
        select distinct
            '{{ identifier_type }}' as identifier_type,
            {{ column }} as identifier
        from {{ ref(relation) }}
        where {{ column }} is not null and {{ condition }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

-- both directions of every link
directed_edges as (

    select
        left_type as from_type,
        left_id as from_id,
        right_type as to_type,
        right_id as to_id
    from edges
    union all
    select
        right_type,
        right_id,
        left_type,
        left_id
    from edges

),

neighbour_counts as (

    select
        from_type as identifier_type,
        from_id as identifier,
        to_type as neighbour_type,
        count(*) as neighbours
    from directed_edges
    group by 1, 2, 3

),

limits as (

    {%- for type, neighbour, limit in limits %}
        select
            '{{ type }}' as identifier_type,
            '{{ neighbour }}' as neighbour_type,
            {{ limit }} as max_neighbours
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

flagged as (

    select
        neighbour_counts.identifier_type,
        neighbour_counts.identifier,
        min({{ dbt.concat([
            "'more_than_'",
            dbt.safe_cast('limits.max_neighbours', dbt.type_string()),
            "'_'",
            'neighbour_counts.neighbour_type',
            "'s'",
        ]) }}) as flag_reason
    from neighbour_counts
    inner join limits
        on
            neighbour_counts.identifier_type = limits.identifier_type
            and neighbour_counts.neighbour_type = limits.neighbour_type
            and neighbour_counts.neighbours > limits.max_neighbours
    group by 1, 2

),

all_identifiers as (

    select
        identifier_type,
        identifier
    from observed_identifiers
    union all
    select
        from_type as identifier_type,
        from_id as identifier
    from directed_edges

),

-- one row per identifier, numbered in the order of its label: user_ids
-- first, then emails, then anonymous_ids, so the smallest number in a
-- component is its representative identifier. Propagation carries these
-- numbers (integer joins and minimums), not the text labels.
nodes as (

    select
        identifier_type,
        identifier,
        representative,
        row_number() over (order by representative) as node_id
    from (
        select distinct
            identifier_type,
            identifier,
            {{ dbt.concat([
                "case identifier_type when 'user_id' then '1' when 'email' then '2' else '3' end",
                "':'",
                'identifier',
            ]) }} as representative
        from all_identifiers
    ) as distinct_identifiers

),

-- links whose ends are both unflagged, plus a self-link per node so each
-- propagation step reads the previous labels once
propagation_edges as (

    select
        from_nodes.node_id as from_node,
        to_nodes.node_id as to_node
    from directed_edges
    inner join nodes as from_nodes
        on
            directed_edges.from_type = from_nodes.identifier_type
            and directed_edges.from_id = from_nodes.identifier
    inner join nodes as to_nodes
        on
            directed_edges.to_type = to_nodes.identifier_type
            and directed_edges.to_id = to_nodes.identifier
    left join flagged as flagged_from
        on
            directed_edges.from_type = flagged_from.identifier_type
            and directed_edges.from_id = flagged_from.identifier
    left join flagged as flagged_to
        on
            directed_edges.to_type = flagged_to.identifier_type
            and directed_edges.to_id = flagged_to.identifier
    where flagged_from.identifier is null and flagged_to.identifier is null
    union all
    select
        node_id as from_node,
        node_id as to_node
    from nodes

),

labels_0 as (

    select
        node_id as node,
        node_id as smallest_node
    from nodes

),

{% for hop in range(1, var('identity_max_hops') + 1) %}
    labels_{{ hop }} as (

        select
            propagation_edges.to_node as node,
            min(labels_{{ hop - 1 }}.smallest_node) as smallest_node
        from labels_{{ hop - 1 }}
        inner join propagation_edges
            on labels_{{ hop - 1 }}.node = propagation_edges.from_node
        group by 1

    ),

{% endfor %}
components as (

    select
        labels_{{ var('identity_max_hops') }}.node,
        representatives.representative,
        count(*) over (partition by labels_{{ var('identity_max_hops') }}.smallest_node) as component_size
    from labels_{{ var('identity_max_hops') }}
    inner join nodes as representatives
        on labels_{{ var('identity_max_hops') }}.smallest_node = representatives.node_id

),

final as (

    select
        -- ids
        nodes.identifier_type,
        nodes.identifier,
        {{ dbt.hash('components.representative') }} as customer_key,

        -- graph
        {{ dbt.split_part('components.representative', "':'", 1) }} = '1' as is_known_customer,
        components.component_size,
        flagged.identifier is not null as is_flagged,
        flagged.flag_reason
    from nodes
    inner join components
        on nodes.node_id = components.node
    left join flagged
        on
            nodes.identifier_type = flagged.identifier_type
            and nodes.identifier = flagged.identifier

)

select * from final
