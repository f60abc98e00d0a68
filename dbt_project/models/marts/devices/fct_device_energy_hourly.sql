{#-
    One row per device and local hour of its home (retention tier "hourly",
    var('device_retention_hourly_days')): energy produced (positive readings), consumed (negative readings,
    as a positive number) and net, mean power, readings, and the state of charge of the hour's last reading.
    hour_start is the hour in UTC (the two local 02:00 hours of a DST autumn night are two rows, told apart
    by utc_offset_minutes). Each reading's energy covers the interval starting at its time, so energy is a
    sum, not an integration.
    A rollup (macros/timescale/rollup.sql): a continuous aggregate with TimescaleDB, an incremental table on
    plain PostgreSQL. One select, no CTEs, so it is a valid continuous aggregate.
-#}
{#- The index serves one home's hours in a window (fct_home_energy_summary, the API's home summary). -#}
{{
    config(
        materialized='rollup',
        source_model='fct_device_readings',
        source_time='local_measured_at',
        time_column='local_hour',
        bucket_width='1 hour',
        unique_key=['local_hour', 'device_id', 'utc_offset_minutes'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        full_refresh=false,
        source_retention_days=var('device_retention_raw_days'),
        source_is_incremental=true,
        source_compress_after=var('device_compress_after'),
        rows_column='readings',
        source_rows='count(*)',
        refresh_start='3 days',
        refresh_every='30 minutes',
        partition_unit='day',
        indexes=[{'columns': ['home_id', 'hour_start']}],
    )
}}

select
    {{ rollup_bucket('1 hour', 'local_measured_at') }} as local_hour,
    device_id,
    home_id,
    device_kind,
    time_zone,
    utc_offset_minutes,
    {{ offset_wall_clock_to_utc(
        rollup_bucket('1 hour', 'local_measured_at'), 'utc_offset_minutes'
    ) }} as hour_start,
    sum(greatest(energy_wh, 0)) / 1000.0 as produced_kwh,
    sum(greatest(-energy_wh, 0)) / 1000.0 as consumed_kwh,
    sum(energy_wh) / 1000.0 as net_kwh,
    avg(power_w) as mean_power_w,
    count(*)::integer as readings,
    {{ last_by('charge_pct', 'local_measured_at') }} as last_charge_pct,
    max(loaded_at) as loaded_at
from {{ ref('fct_device_readings') }}
{{ rollup_where('devices') }}
group by
    {{ rollup_bucket('1 hour', 'local_measured_at') }},
    device_id,
    home_id,
    device_kind,
    time_zone,
    utc_offset_minutes
