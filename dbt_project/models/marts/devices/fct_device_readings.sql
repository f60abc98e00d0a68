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
    With TimescaleDB its retention and compression policies are added by fct_device_energy_hourly, after
    that has read the rows (macros/timescale/retention_tiers.sql).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
        unique_key=(none if target.type == 'spark' else ['device_id', 'local_measured_at', 'measured_at']),
        partition_by=['local_day'],
        clustered_by=['device_id'],
        buckets=var('spark_device_buckets', 4),
        on_schema_change='fail',
        full_refresh=false,
        post_hook=[
            "{{ time_series_storage(this, 'local_measured_at', ['device_id'], var('device_chunk_interval'), var('device_compress_after'), ['device_id', 'local_measured_at', 'measured_at'], compression_policy=false) }}",
            "{{ ensure_index(this, ['loaded_at']) }}",
        ],
    )
}}

with

readings as (

    select * from {{ ref('stg_devices__readings') }}
    where {{ device_readings_to_take_in() }}

),

devices as (

    select * from {{ ref('dim_devices') }}

),

located as (

    select
        {{ to_local('readings.measured_at', 'devices.time_zone') }} as local_measured_at,
        readings.device_id,
        devices.home_id,
        devices.device_kind,
        devices.time_zone,
        {{ utc_offset_minutes('readings.measured_at', 'devices.time_zone') }} as utc_offset_minutes,
        readings.measured_at,
        readings.power_w,
        readings.energy_wh,
        readings.charge_pct,
        -- The most power the device can produce or draw: its rating by kind, else the var.
        coalesce(
            case devices.device_kind
                when 'solar_panel' then devices.rated_w
                when 'appliance' then devices.average_w
                when 'battery' then greatest(devices.max_charge_w, devices.max_discharge_w)
                when 'ev' then devices.max_charge_w
            end,
            {{ var('device_default_max_power_w') }}
        ) as max_power_w,
        {%- if target.type == 'spark' %}
        readings.local_day,
        {%- endif %}
        readings.loaded_at
    from readings
    inner join devices
        on readings.device_id = devices.device_id

),

labelled as (

    -- A reading is plausible when neither its power nor its energy over one interval exceeds the device's
    -- power (with the margin); negative values are consumption, as legitimate as production.
    select
        *,
        coalesce(abs(power_w) <= max_power_w * (1 + {{ var('plausible_power_margin') }}), power_w is null)
        and coalesce(
            abs(energy_wh)
            <= max_power_w * {{ var('device_interval_seconds') }} / 3600.0
            * (1 + {{ var('plausible_power_margin') }}) + 1,
            energy_wh is null
        ) as is_plausible
    from located

),

final as (

    select
        local_measured_at::{{ sqltype('timestamp') }} as local_measured_at,
        device_id::{{ sqltype('text') }} as device_id,
        home_id::{{ sqltype('text') }} as home_id,
        device_kind::{{ sqltype('text') }} as device_kind,
        time_zone::{{ sqltype('text') }} as time_zone,
        utc_offset_minutes::integer as utc_offset_minutes,
        measured_at::{{ sqltype('timestamptz') }} as measured_at,
        -- Implausible power and energy stay out of every sum (the rollups): as published in staging.
        (case when is_plausible then power_w end)::{{ sqltype('double precision') }} as power_w,
        (case when is_plausible then energy_wh end)::{{ sqltype('double precision') }} as energy_wh,
        charge_pct::{{ sqltype('double precision') }} as charge_pct,
        is_plausible::boolean as is_plausible,
        {%- if target.type == 'spark' %}
        local_day,  -- Spark's partition: the lake's local day, overwritten whole when a load touches it
        {%- endif %}
        loaded_at::{{ sqltype('timestamptz') }} as loaded_at
    from labelled

)

select * from final
