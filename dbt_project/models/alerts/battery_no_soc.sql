with

batteries as (

    select * from {{ ref('dim_batteries') }}

),

final as (

    select
        md5('battery_no_soc|' || asset_id || '|' || coalesce(first_measured_at, loaded_at)::text)::text
            as alert_id,
        asset_id,
        asset_name as description,
        'warning'::text as severity,
        0.0::double precision as value,
        1.0::double precision as threshold,
        coalesce(first_measured_at, loaded_at) as since,
        coalesce(last_measured_at, loaded_at) as last_seen,
        format(
            '%s: no SoC reported (no StateOfChargePercentage series among its %s series)',
            asset_name,
            n_series
        ) as message,
        {{ reference_time() }} as checked_at
    from batteries
    -- An asset with no series at all sent nothing readable: alerts.battery_feed_unreadable says so.
    where not has_soc and n_series > 0

)

select * from final
