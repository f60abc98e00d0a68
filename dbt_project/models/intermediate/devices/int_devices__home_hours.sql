{#-
    One row per home and UTC hour, from fct_device_energy_hourly: produced, consumed, net and solar energy,
    and storage state: battery_storage_pct = energy stored in the home's batteries that report in the hour
    (last reading of the hour) / the capacity of all its batteries; ev_charge_pct the same for EVs. The
    hour's local date in the home's time zone.
-#}
with

tier as (

    select * from {{ ref('fct_device_energy_hourly') }}

),

devices as (

    select * from {{ ref('dim_devices') }}

),

homes as (

    {{ home_capacities(ref('dim_devices')) }}

),

per_hour as (

    select
        tier.home_id,
        tier.hour_start,
        max(homes.time_zone) as time_zone,
        max(tier.local_hour)::date as local_date,
        {{ home_energy_columns() }},
        count(*) as devices_reporting
    from tier
    inner join devices
        on tier.device_id = devices.device_id
    inner join homes
        on tier.home_id = homes.home_id
    group by tier.home_id, tier.hour_start

),

final as (

    select * from per_hour

)

select * from final
