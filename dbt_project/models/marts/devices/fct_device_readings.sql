{#-
    The raw tier of the smart-home rollups (retention tier "raw", var('device_retention_raw_days')): one
    row per device reading, typed, with the home and its local wall-clock time. local_measured_at is the
    time dimension (a hypertable chunked by local time with TimescaleDB, a BRIN-indexed table otherwise):
    the hourly, daily and monthly rollups bucket it, so a home's days and months follow its own time zone.
    utc_offset_minutes tells the two local 02:00 hours of a DST autumn night apart.
    Append-only like its source (the loader never rewrites a reading): a run adds the readings of the loads
    that ended since the newest loaded_at it holds (macro loaded_since_last_build), skipping any it holds
    already. Never fully refreshed: retention may have removed the source rows of older readings. A btree
    on loaded_at makes "the newest load held" one index probe for this model, the rollups and the tests.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
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
    where {{ loaded_since_last_build('devices') }}

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

new_readings as (

    select located.*
    from located
    {% if is_incremental() %}
        where not exists (
                select 1
                from {{ this }} as held
                where
                    held.device_id = located.device_id
                    and held.local_measured_at = located.local_measured_at
                    and held.measured_at = located.measured_at
            )
    {% endif %}

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
    from new_readings

)

select * from final
