{#-
    Channel group per distinct (utm_medium, utm_source, referrer host), from the
    editable seed channel_group_rules: the matching rule with the lowest
    priority wins; a rule's empty pattern matches anything; no match is Direct.
    Matching distinct combinations keeps the pattern join small.
-#}

with

sessions as (

    select * from {{ ref('int_sessions_sessionized') }}
    where session_id is not null

),

rules as (

    select * from {{ ref('channel_group_rules') }}

),

combinations as (

    select distinct
        lower(utm_medium) as utm_medium,
        lower(utm_source) as utm_source,
        lower({{ dbt.split_part('referrer', "'/'", 3) }}) as referrer_host
    from sessions

),

matches as (

    select
        combinations.utm_medium,
        combinations.utm_source,
        combinations.referrer_host,
        rules.channel_group,
        row_number() over (
            partition by combinations.utm_medium, combinations.utm_source, combinations.referrer_host
            order by rules.priority, rules.channel_group
        ) as match_rank
    from combinations
    inner join rules
        on
            (rules.utm_medium_pattern is null or combinations.utm_medium like rules.utm_medium_pattern)
            and (rules.utm_source_pattern is null or combinations.utm_source like rules.utm_source_pattern)
            and (
                rules.referrer_host_pattern is null
                or combinations.referrer_host like rules.referrer_host_pattern
            )

),

final as (

    select
        combinations.utm_medium,
        combinations.utm_source,
        combinations.referrer_host,
        coalesce(matches.channel_group, 'Direct') as channel_group
    from combinations
    left join matches
        on
            {{ null_safe_equal('combinations.utm_medium', 'matches.utm_medium') }}
            and {{ null_safe_equal('combinations.utm_source', 'matches.utm_source') }}
            and {{ null_safe_equal('combinations.referrer_host', 'matches.referrer_host') }}
            and matches.match_rank = 1

)

select * from final
