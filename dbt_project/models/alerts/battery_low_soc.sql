with

series as (

    select * from {{ ref('dim_battery_series') }}

),

batteries as (

    select * from {{ ref('dim_batteries') }}

),

episodes as (

    select * from {{ ref('fct_battery_low_soc_episodes') }}

),

latest_soc as (

    -- The latest SoC point per asset comes from the latest-state table: one row per series.
    select
        asset_id,
        metric,
        last_value as soc_pct,
        last_measured_at
    from series
    where
        quantity = 'StateOfCharge'
        and unit = '%'
        and last_value < {{ var('battery_low_soc_pct') }}

),

open_episodes as (

    select
        latest_soc.asset_id,
        latest_soc.soc_pct,
        latest_soc.last_measured_at,
        episode.started_at
    from latest_soc
    cross join lateral (
        -- The asset's newest episode, found on the (asset_id, started_at desc) index.
        select episodes.started_at
        from episodes
        where
            episodes.asset_id = latest_soc.asset_id
            and episodes.metric = latest_soc.metric
        order by episodes.started_at desc
        limit 1
    ) as episode

),

final as (

    select
        md5('battery_low_soc|' || open_episodes.asset_id || '|' || open_episodes.started_at::text)::text
            as alert_id,
        open_episodes.asset_id,
        batteries.asset_name as description,
        case
            when open_episodes.soc_pct < {{ var('battery_low_soc_pct') }} / 2.0 then 'critical'
            else 'warning'
        end::text as severity,
        open_episodes.soc_pct::double precision as value,
        {{ var('battery_low_soc_pct') }}::double precision as threshold,
        open_episodes.started_at as since,
        open_episodes.last_measured_at as last_seen,
        format(
            '%s: state of charge %s %% is below %s %% since %s',
            batteries.asset_name,
            round(open_episodes.soc_pct::numeric, 1),
            {{ var('battery_low_soc_pct') }},
            to_char(open_episodes.started_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
        ) as message,
        {{ reference_time() }} as checked_at
    from open_episodes
    inner join batteries
        on open_episodes.asset_id = batteries.asset_id

)

select * from final
