with

series as (

    select * from {{ ref('dim_battery_series') }}

),

batteries as (

    select * from {{ ref('dim_batteries') }}

),

episodes as (

    select * from {{ ref('fct_battery_over_temperature_episodes') }}

),

temperature_series as (

    -- The latest temperature point per series comes from the latest-state table: one row per series.
    select
        asset_id,
        metric,
        last_value as temperature_c,
        last_measured_at
    from series
    where quantity = 'BatteryTemperature' and unit = '°C'

),

open_episodes as (

    select
        temperature_series.asset_id,
        temperature_series.temperature_c,
        temperature_series.last_measured_at,
        episode.started_at,
        episode.max_temperature_c,
        episode.threshold_c
    from temperature_series
    cross join
        lateral (
            -- The series' newest episode, found on the (asset_id, started_at desc) index; open or not.
            select
                episodes.started_at,
                episodes.is_open,
                episodes.max_temperature_c,
                episodes.threshold_c
            from episodes
            where
                episodes.asset_id = temperature_series.asset_id
                and episodes.metric = temperature_series.metric
            order by episodes.started_at desc
            limit 1
        ) as episode
    where episode.is_open

),

final as (

    select
        md5(
            'battery_over_temperature|' || open_episodes.asset_id || '|' || open_episodes.started_at::text
        )::text as alert_id,
        open_episodes.asset_id,
        batteries.asset_name as description,
        case
            when open_episodes.max_temperature_c >= open_episodes.threshold_c + 10 then 'critical'
            else 'warning'
        end::text as severity,
        open_episodes.temperature_c::double precision as value,
        open_episodes.threshold_c::double precision as threshold,
        open_episodes.started_at as since,
        open_episodes.last_measured_at as last_seen,
        format(
            '%s: over temperature since %s (above %s °C), now %s °C, peak %s °C',
            batteries.asset_name,
            to_char(open_episodes.started_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
            round(open_episodes.threshold_c::numeric, 1),
            round(open_episodes.temperature_c::numeric, 1),
            round(open_episodes.max_temperature_c::numeric, 1)
        ) as message,
        {{ reference_time() }} as checked_at
    from open_episodes
    inner join batteries
        on open_episodes.asset_id = batteries.asset_id

)

select * from final
