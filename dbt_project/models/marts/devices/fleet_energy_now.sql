{#-
    The energy summary across all connected devices right now (seed 003's first question), from the
    latest reading of each device (int_devices__latest_state: one row per device, so the cost does not
    grow with history). One row per home (scope = home) and one for the whole fleet (scope = fleet,
    home_id null). as_of is now: the clock when the view is read (or var('reference_time')); a device
    whose latest reading is more than var('device_stale_after_minutes') older, or dated later than as_of
    plus var('future_tolerance_minutes') (a clock set wrong), is stale: counted in devices_stale and left
    out of the power and storage figures. One device's clock never moves another's staleness. Power:
    production_w = sum of positive power, consumption_w = sum of negative power as a positive number, net_w = production - consumption. Storage: capacity-weighted state of
    charge of the batteries (battery_storage_pct), of the EVs (ev_charge_pct) and of both (storage_pct).
-#}
{{ config(materialized='view_in_place') }}

with

latest as (

    select * from {{ ref('int_devices__latest_state') }}

),

devices as (

    select * from {{ ref('dim_devices') }}

),

clock as (

    select
        {{ reference_time() }} as as_of,
        {{ future_limit() }} as future_limit

),

states as (

    select
        devices.home_id,
        devices.device_id,
        devices.device_kind,
        devices.storage_capacity_wh,
        latest.measured_at,
        latest.power_w,
        latest.charge_pct,
        latest.device_id is not null
        and latest.measured_at
        >= clock.as_of - interval '{{ var("device_stale_after_minutes", 15) }} minutes'
        and latest.measured_at <= clock.future_limit as is_fresh,
        -- a reading dated in the future says nothing about now
        case when latest.measured_at <= clock.future_limit then latest.measured_at end as plausible_reading_at
    from devices
    cross join clock
    left join latest
        on devices.device_id = latest.device_id

),

rollup as (

    select
        case when grouping(home_id) = 1 then 'fleet' else 'home' end as scope,
        home_id,
        count(*) as devices,
        count(*) filter (where is_fresh) as devices_reporting,
        count(*) filter (where not is_fresh) as devices_stale,
        max(plausible_reading_at) as last_reading_at,
        coalesce(sum(greatest(power_w, 0)) filter (where is_fresh), 0) as production_w,
        coalesce(
            sum(case when power_w < 0 then -power_w else 0.0 end) filter (where is_fresh), 0
        ) as consumption_w,
        sum(charge_pct / 100.0 * storage_capacity_wh) filter (where is_fresh and device_kind = 'battery')
        / nullif(sum(storage_capacity_wh) filter (where is_fresh and device_kind = 'battery'), 0)
        * 100.0 as battery_storage_pct,
        sum(charge_pct / 100.0 * storage_capacity_wh) filter (where is_fresh and device_kind = 'ev')
        / nullif(sum(storage_capacity_wh) filter (where is_fresh and device_kind = 'ev'), 0)
        * 100.0 as ev_charge_pct,
        sum(charge_pct / 100.0 * storage_capacity_wh)
        filter (where is_fresh and device_kind in ('battery', 'ev'))
        / nullif(sum(storage_capacity_wh) filter (where is_fresh and device_kind in ('battery', 'ev')), 0)
        * 100.0 as storage_pct
    from states
    group by grouping sets ((home_id), ())

),

final as (

    select
        rollup.scope::text as scope,
        rollup.home_id::text as home_id,
        clock.as_of::timestamptz as as_of,
        rollup.devices::integer as devices,
        rollup.devices_reporting::integer as devices_reporting,
        rollup.devices_stale::integer as devices_stale,
        rollup.last_reading_at::timestamptz as last_reading_at,
        rollup.production_w::double precision as production_w,
        rollup.consumption_w::double precision as consumption_w,
        (rollup.production_w - rollup.consumption_w)::double precision as net_w,
        rollup.battery_storage_pct::double precision as battery_storage_pct,
        rollup.ev_charge_pct::double precision as ev_charge_pct,
        rollup.storage_pct::double precision as storage_pct
    from rollup
    cross join clock

)

select * from final
