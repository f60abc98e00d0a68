{#
    Low state-of-charge episodes (gaps and islands), the one place that knows what an episode is: a maximal
    run of consecutive points of one asset's SoC series whose value is below threshold_pct. It starts at
    its first low point, lasts through its last low point and is over (recovered) at the next point at or
    above the threshold; an episode whose last low point is the asset's latest point is still open.
    Returns a select over `points` (a relation or CTE name with partition_by, time_column, value_column)
    giving one row per episode: the partition columns, started_at, last_low_at, recovered_at (null while
    open), is_open, min_soc_pct, low_points.
#}
{% macro low_soc_episodes(
    points,
    threshold_pct,
    partition_by=['asset_id'],
    time_column='measured_at',
    value_column='soc_pct'
) %}
    {%- set partition = partition_by | join(', ') -%}
    {%- set window = 'partition by ' ~ partition ~ ' order by ' ~ time_column -%}
    select
        {{ partition }},
        min({{ time_column }}) as started_at,
        max({{ time_column }}) as last_low_at,
        case
            when bool_or(next_measured_at is null) then null
            else max(next_measured_at)
        end as recovered_at,
        bool_or(next_measured_at is null) as is_open,
        min({{ value_column }}) as min_soc_pct,
        count(*) as low_points
    from (
        select
            {{ partition }},
            {{ time_column }},
            {{ value_column }},
            next_measured_at,
            sum(case when starts_episode then 1 else 0 end)
                over ({{ window }} rows unbounded preceding) as episode_number
        from (
            select
                {{ partition }},
                {{ time_column }},
                {{ value_column }},
                {{ value_column }} < {{ threshold_pct }} as is_low,
                {{ value_column }} < {{ threshold_pct }}
                and coalesce(lag({{ value_column }}) over ({{ window }}) >= {{ threshold_pct }}, true)
                    as starts_episode,
                lead({{ time_column }}) over ({{ window }}) as next_measured_at
            from {{ points }}
        ) as flagged
        where is_low
    ) as numbered
    group by {{ partition }}, episode_number
{%- endmacro %}
