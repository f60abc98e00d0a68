{#-
    One row per home and LOCAL day (the home's time zone; retention tier "daily" through
    fct_device_energy_daily): produced, consumed, net and solar energy, and the storage state at the end of
    the day (each battery's / EV's last reading of the day, capacity-weighted over the home's batteries /
    EVs). A view over the device rollup: a home-day costs one row per device.
-#}
{{ config(materialized='view_in_place') }}

with

tier as (

    select * from {{ ref('fct_device_energy_daily') }}

),

devices as (

    select * from {{ ref('dim_devices') }}

),

homes as (

    {{ home_capacities(ref('dim_devices')) }}

),

per_day as (

    select
        tier.home_id,
        tier.local_day::date as local_date,
        max(homes.time_zone) as time_zone,
        {{ home_energy_columns() }},
        max(tier.hours_reporting) as hours_reporting
    from tier
    inner join devices
        on tier.device_id = devices.device_id
    inner join homes
        on tier.home_id = homes.home_id
    group by tier.home_id, tier.local_day::date

),

final as (

    select
        home_id::{{ sqltype('text') }} as home_id,
        local_date::date as local_date,
        time_zone::{{ sqltype('text') }} as time_zone,
        (
            {{ from_local('local_date::' ~ sqltype('timestamp'), 'time_zone') }}
        )::{{ sqltype('timestamptz') }} as day_start,
        produced_kwh::{{ sqltype('double precision') }} as produced_kwh,
        consumed_kwh::{{ sqltype('double precision') }} as consumed_kwh,
        net_kwh::{{ sqltype('double precision') }} as net_kwh,
        solar_kwh::{{ sqltype('double precision') }} as solar_kwh,
        battery_storage_pct::{{ sqltype('double precision') }} as battery_storage_pct,
        ev_charge_pct::{{ sqltype('double precision') }} as ev_charge_pct,
        hours_reporting::integer as hours_reporting,
        loaded_at::{{ sqltype('timestamptz') }} as loaded_at
    from per_day

)

select * from final
