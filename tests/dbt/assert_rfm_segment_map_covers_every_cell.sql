{#-
    Every (r_score, f_score) pair 1..5 x 1..5 has a segment in the seed
    rfm_segment_map, so no scored customer can end up without one. Each row
    returned is a pair to add to seeds/rfm_segment_map.csv.
-#}

with

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

scores as (

    {%- for score in range(1, 6) %}
        select {{ score }} as score
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

cells as (

    select
        recency.score as r_score,
        frequency.score as f_score
    from scores as recency
    cross join scores as frequency

)

select
    cells.r_score,
    cells.f_score,
    'add this pair to seeds/rfm_segment_map.csv' as fix
from cells
left join segment_map
    on
        cells.r_score = segment_map.r_score
        and cells.f_score = segment_map.f_score
where segment_map.rfm_segment is null
