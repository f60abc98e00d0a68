{#-
    The raw tier of the smart-home rollups (retention tier "raw", var('device_retention_raw_days')): one
    row per device reading, typed, with the home and its local wall-clock time. local_measured_at is the
    time dimension (a hypertable chunked by local time with TimescaleDB, a BRIN-indexed table otherwise):
    the hourly, daily and monthly rollups bucket it, so a home's days and months follow its own time zone.
    utc_offset_minutes tells the two local 02:00 hours of a DST autumn night apart.
    Incremental: a run takes the readings of the loads it has not taken in (macro loads_to_take_in) and
    writes them over any reading held for the same device and instant (delete+insert), so a vendor
    correction replaces the reading. Never fully refreshed: retention may have removed the source rows of older readings. A btree
    on loaded_at makes "the newest load held" one index probe for this model, the rollups and the tests.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['device_id', 'local_measured_at', 'measured_at'],
        on_schema_change='fail',
        full_refresh=false,
        post_hook=[
            "{{ time_series_storage(this, 'local_measured_at', ['device_id'], var('device_chunk_interval'), var('device_compress_after'), ['device_id', 'local_measured_at', 'measured_at']) }}",
            "{{ ensure_index(this, ['loaded_at']) }}",
            "{{ device_retention_policy(this, 'local_measured_at', var('device_retention_raw_days')) }}",
        ],
    )
}}

with

readings as (

    select * from {{ ref('stg_devices__readings') }}
    where {{ loads_to_take_in('devices') }}

),

devices as (

    select * from {{ ref('dim_devices') }}

),

located as (

    select
        readings.measured_at at time zone devices.time_zone as local_measured_at,
        readings.device_id,
        devices.home_id,
        devices.device_kind,
        devices.time_zone,
        (
            extract(
                epoch from (readings.measured_at at time zone devices.time_zone)
                - (readings.measured_at at time zone 'UTC')
            ) / 60
        )::integer as utc_offset_minutes,
        readings.measured_at,
        readings.power_w,
        readings.energy_wh,
        readings.charge_pct,
        readings.loaded_at
    from readings
    inner join devices
        on readings.device_id = devices.device_id

),

final as (

    select
        local_measured_at::timestamp as local_measured_at,
        device_id::text as device_id,
        home_id::text as home_id,
        device_kind::text as device_kind,
        time_zone::text as time_zone,
        utc_offset_minutes::integer as utc_offset_minutes,
        measured_at::timestamptz as measured_at,
        power_w::double precision as power_w,
        energy_wh::double precision as energy_wh,
        charge_pct::double precision as charge_pct,
        loaded_at::timestamptz as loaded_at
    from located

)

select * from final
