{{ config(error_if='>0', fail_calc='count(*)') }}

{#-
    Every usable link joins two identifiers with the same customer_key. A
    failure means chains longer than var identity_max_hops exist: raise it.
-#}

with

stitched as (

    select * from {{ ref('int_identifiers_stitched') }}

),

edges as (

    select * from {{ ref('int_identity_edges_collected') }}

)

select
    edges.left_type,
    edges.left_id,
    edges.right_type,
    edges.right_id,
    'raise var identity_max_hops' as fix
from edges
inner join stitched as left_side
    on edges.left_type = left_side.identifier_type and edges.left_id = left_side.identifier
inner join stitched as right_side
    on edges.right_type = right_side.identifier_type and edges.right_id = right_side.identifier
where
    not left_side.is_flagged
    and not right_side.is_flagged
    and left_side.customer_key != right_side.customer_key
