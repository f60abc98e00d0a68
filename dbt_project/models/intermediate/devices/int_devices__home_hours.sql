{#-
    One row per home and UTC hour, from fct_device_energy_hourly: produced, consumed, net and solar energy,
    and storage state: battery_storage_pct = energy stored in the home's batteries that report in the hour
    (last reading of the hour) / the capacity of all its batteries; ev_charge_pct the same for EVs. The
    hour's local date in the home's time zone feeds the daily rollup.
-#}
with

hourly as (

    select * from {{ ref('fct_device_energy_hourly') }}

),

devices as (

    select * from {{ ref('dim_devices') }}

),

homes as (

    select
        home_id,
        max(time_zone) as time_zone,
        sum(storage_capacity_wh) filter (where device_kind = 'battery') as battery_capacity_wh,
        sum(storage_capacity_wh) filter (where device_kind = 'ev') as ev_capacity_wh
    from devices
    group by home_id

),

per_hour as (

    select
        home_id,
        hour_start,
        sum(produced_kwh) as produced_kwh,
        sum(consumed_kwh) as consumed_kwh,
        sum(net_kwh) as net_kwh,
        coalesce(sum(produced_kwh - consumed_kwh) filter (where device_kind = 'solar_panel'), 0) as solar_kwh,
        sum(stored_wh) filter (where device_kind = 'battery') as battery_stored_wh,
        sum(stored_wh) filter (where device_kind = 'ev') as ev_stored_wh,
        count(*) as devices_reporting,
        max(loaded_at) as loaded_at
    from hourly
    group by home_id, hour_start

),

final as (

    select
        per_hour.home_id,
        per_hour.hour_start,
        homes.time_zone,
        (per_hour.hour_start at time zone homes.time_zone)::date as local_date,
        per_hour.produced_kwh,
        per_hour.consumed_kwh,
        per_hour.net_kwh,
        per_hour.solar_kwh,
        100.0 * per_hour.battery_stored_wh / nullif(homes.battery_capacity_wh, 0) as battery_storage_pct,
        100.0 * per_hour.ev_stored_wh / nullif(homes.ev_capacity_wh, 0) as ev_charge_pct,
        per_hour.devices_reporting,
        per_hour.loaded_at
    from per_hour
    inner join homes
        on per_hour.home_id = homes.home_id

)

select * from final
