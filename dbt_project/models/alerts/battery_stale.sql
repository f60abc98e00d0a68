with

batteries as (

    select * from {{ ref('dim_batteries') }}

),

staleness as (

    -- dim_batteries holds the last point per asset (from the latest-state table dim_battery_series).
    select
        asset_id,
        asset_name,
        coalesce(last_measured_at, loaded_at) as last_seen,
        extract(epoch from now() - coalesce(last_measured_at, loaded_at)) / 60.0 as minutes_silent
    from batteries

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
            '%s: no telemetry for %s minutes (since %s), more than %s allowed',
            asset_name,
            round(minutes_silent::numeric),
            to_char(last_seen at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
            {{ var('battery_stale_after_minutes') }}
        ) as message
    from staleness
    where minutes_silent > {{ var('battery_stale_after_minutes') }}

)

select * from final
