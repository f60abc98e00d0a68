with

batteries as (

    select * from {{ ref('dim_batteries') }}

),

unreadable as (

    select * from {{ ref('unreadable_files') }}
    where vendor = 'batteries'

),

silent as (

    -- Assets listed by the vendor without one readable telemetry point.
    select
        asset_id,
        asset_name,
        loaded_at
    from batteries
    where n_series = 0

),

explained as (

    select
        silent.asset_id,
        silent.asset_name,
        silent.loaded_at,
        telemetry_file.source_file,
        telemetry_file.reason,
        telemetry_file.loaded_at as quarantined_at
    from silent
    left join lateral (
        -- Its telemetry file (telemetry/<asset_id>.json, or the API's URL of it), when one was
        -- quarantined whole; the newest delivery.
        select
            unreadable.source_file,
            unreadable.reason,
            unreadable.loaded_at
        from unreadable
        where
            unreadable.source_file = 'telemetry/' || silent.asset_id || '.json'
            or unreadable.source_file like '%/telemetry/' || silent.asset_id || '.json'
        order by unreadable.loaded_at desc
        limit 1
    ) as telemetry_file on true

),

final as (

    select
        md5(
            'battery_feed_unreadable|' || asset_id || '|' || coalesce(quarantined_at, loaded_at)::text
        )::text as alert_id,
        asset_id,
        asset_name as description,
        case when source_file is not null then 'critical' else 'warning' end::text as severity,
        null::double precision as value,
        null::double precision as threshold,
        coalesce(quarantined_at, loaded_at) as since,
        coalesce(quarantined_at, loaded_at) as last_seen,
        case
            when source_file is not null
                then format(
                        '%s: no readable telemetry: %s could not be read (%s), loaded %s',
                        asset_name,
                        source_file,
                        reason,
                        to_char(quarantined_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
                    )
            else format(
                    '%s: no telemetry received since the asset was listed (%s)',
                    asset_name,
                    to_char(loaded_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
                )
        end as message,
        {{ reference_time() }} as checked_at
    from explained

)

select * from final
