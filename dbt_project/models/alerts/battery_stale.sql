with

batteries as (

    select * from {{ ref('dim_batteries') }}

),

series as (

    select * from {{ ref('dim_battery_series') }}

),

clock as (

    select
        {{ reference_time() }} as checked_at,
        {{ future_limit() }} as future_limit

),

latest as (

    -- Per asset, its newest point that is not in the future (the latest-state table holds one row per
    -- series). A series whose newest point lies beyond the tolerance has a clock set wrong: it shows
    -- nothing about now, so it neither keeps the asset fresh nor hides that the others went silent.
    select
        series.asset_id,
        max(series.last_measured_at) filter (where series.last_measured_at <= clock.future_limit)
            as last_point_at,
        max(series.last_measured_at) filter (where series.last_measured_at > clock.future_limit)
            as future_point_at
    from series
    cross join clock
    group by series.asset_id

),

staleness as (

    -- Only assets that have reported: one with no readable telemetry at all is
    -- alerts.battery_feed_unreadable's.
    select
        batteries.asset_id,
        batteries.asset_name,
        latest.future_point_at,
        clock.checked_at,
        coalesce(latest.last_point_at, batteries.loaded_at) as last_seen,
        extract(epoch from clock.checked_at - coalesce(latest.last_point_at, batteries.loaded_at)) / 60.0
            as minutes_silent
    from batteries
    inner join latest
        on batteries.asset_id = latest.asset_id
    cross join clock

),

final as (

    select
        md5('battery_stale|' || asset_id || '|' || last_seen::text)::text as alert_id,
        asset_id,
        asset_name as description,
        case
            when minutes_silent > 24 * 60 then 'critical'
            else 'warning'
        end::text as severity,
        minutes_silent::double precision as value,
        {{ var('battery_stale_after_minutes') }}::double precision as threshold,
        last_seen as since,
        last_seen,
        format(
            '%s: no telemetry for %s minutes (since %s), more than %s allowed%s',
            asset_name,
            round(minutes_silent::numeric),
            to_char(last_seen at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
            {{ var('battery_stale_after_minutes') }},
            case
                when future_point_at is not null
                    then format(
                            '; a point dated %s is in the future (clock set wrong) and is not counted',
                            to_char(future_point_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
                        )
                else ''
            end
        ) as message,
        checked_at
    from staleness
    where minutes_silent > {{ var('battery_stale_after_minutes') }}

)

select * from final
