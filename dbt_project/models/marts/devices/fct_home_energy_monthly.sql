{#-
    One row per home and LOCAL calendar month (retention tier "monthly" through fct_device_energy_monthly:
    kept forever unless var('device_retention_monthly_days') is set): energy totals and the storage state at
    the end of the month. A view over the device rollup.
-#}
{{ config(materialized='view_in_place') }}

with

tier as (

    select * from {{ ref('fct_device_energy_monthly') }}

),

devices as (

    select * from {{ ref('dim_devices') }}

),

homes as (

    {{ home_capacities(ref('dim_devices')) }}

),

per_month as (

    select
        tier.home_id,
        tier.local_month::date as local_month,
        max(homes.time_zone) as time_zone,
        {{ home_energy_columns() }},
        max(tier.days_reporting) as days_reporting
    from tier
    inner join devices
        on tier.device_id = devices.device_id
    inner join homes
        on tier.home_id = homes.home_id
    group by tier.home_id, tier.local_month::date

),

final as (

    select
        home_id::{{ sqltype('text') }} as home_id,
        local_month::date as local_month,
        time_zone::{{ sqltype('text') }} as time_zone,
        (
            {{ from_local('local_month::' ~ sqltype('timestamp'), 'time_zone') }}
        )::{{ sqltype('timestamptz') }} as month_start,
        produced_kwh::{{ sqltype('double precision') }} as produced_kwh,
        consumed_kwh::{{ sqltype('double precision') }} as consumed_kwh,
        net_kwh::{{ sqltype('double precision') }} as net_kwh,
        solar_kwh::{{ sqltype('double precision') }} as solar_kwh,
        battery_storage_pct::{{ sqltype('double precision') }} as battery_storage_pct,
        ev_charge_pct::{{ sqltype('double precision') }} as ev_charge_pct,
        days_reporting::integer as days_reporting,
        loaded_at::{{ sqltype('timestamptz') }} as loaded_at
    from per_month

)

select * from final
