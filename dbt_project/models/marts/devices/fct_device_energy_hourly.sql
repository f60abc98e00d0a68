{#-
    One row per device and UTC hour (retention tier "hourly", var('device_retention_hourly_days')):
    energy produced (positive readings) and consumed (negative readings, as a positive number), net, mean
    power, readings, and the state of charge of the hour's last reading with the energy it stores.
    Each reading's energy_wh covers the interval starting at its measured_at, so energy is a sum, not an
    integration. Incremental: recomputes the (device, hour) pairs that received a reading loaded within
    var('device_lookback_hours') of the newest one held. full_refresh is off: once `gridhouse prune` has
    applied the raw tier, a rebuild from raw would lose the history this table keeps.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['device_id', 'hour_start'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        full_refresh=false,
        post_hook=[
            "{{ time_series_storage(this, 'hour_start', ['device_id'], '7 days', '7 days', ['device_id', 'hour_start']) }}",
            "{{ device_retention_policy(this, 'hour_start', var('device_retention_hourly_days')) }}",
        ],
    )
}}

with

readings as (

    select * from {{ ref('stg_devices__readings') }}

),

devices as (

    select * from {{ ref('dim_devices') }}

),

changed as (

    select distinct
        readings.device_id,
        date_trunc('hour', readings.measured_at) as hour_start
    from readings
    -- an hour the raw tier has been pruned into is complete only here: keep it
    where
        date_trunc('hour', readings.measured_at) >= {{ retention_watermark('raw') }}
        and readings.loaded_at > {{ loaded_after_lookback(var('device_lookback_hours')) }}

),

hourly as (

    select
        readings.device_id,
        date_trunc('hour', readings.measured_at) as hour_start,
        sum(greatest(readings.energy_wh, 0)) as produced_wh,
        sum(greatest(-readings.energy_wh, 0)) as consumed_wh,
        avg(readings.power_w) as mean_power_w,
        count(*) as readings,
        {{ last_non_null('readings.charge_pct', 'readings.measured_at') }} as last_charge_pct,
        max(readings.loaded_at) as loaded_at
    from readings
    inner join changed
        on
            readings.device_id = changed.device_id
            and date_trunc('hour', readings.measured_at) = changed.hour_start
    group by readings.device_id, date_trunc('hour', readings.measured_at)

),

final as (

    select
        hourly.device_id::text as device_id,
        devices.home_id::text as home_id,
        devices.device_kind::text as device_kind,
        hourly.hour_start::timestamptz as hour_start,
        (hourly.produced_wh / 1000.0)::double precision as produced_kwh,
        (hourly.consumed_wh / 1000.0)::double precision as consumed_kwh,
        ((hourly.produced_wh - hourly.consumed_wh) / 1000.0)::double precision as net_kwh,
        hourly.mean_power_w::double precision as mean_power_w,
        hourly.readings::integer as readings,
        hourly.last_charge_pct::double precision as last_charge_pct,
        devices.storage_capacity_wh::double precision as storage_capacity_wh,
        (hourly.last_charge_pct / 100.0 * devices.storage_capacity_wh)::double precision as stored_wh,
        hourly.loaded_at::timestamptz as loaded_at
    from hourly
    inner join devices
        on hourly.device_id = devices.device_id

)

select * from final
