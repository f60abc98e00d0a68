{#-
    One row per device and LOCAL day of its home (retention tier "daily", var('device_retention_daily_days')):
    energy produced, consumed and net, readings, hours reporting and the state of charge at the end of the
    day. Rolled up from fct_device_energy_hourly: with TimescaleDB a hierarchical continuous aggregate, on
    plain PostgreSQL an incremental table (macros/timescale/rollup.sql).
-#}
{{
    config(
        materialized='rollup',
        source_model='fct_device_energy_hourly',
        source_time='local_hour',
        time_column='local_day',
        bucket_width='1 day',
        unique_key=['local_day', 'device_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        full_refresh=false,
        source_retention_days=var('device_retention_hourly_days'),
        rows_column='readings',
        source_rows='sum(readings)',
        refresh_start='30 days',
        refresh_every='1 hour',
        partition_unit='month',
    )
}}

select
    {{ rollup_bucket('1 day', 'local_hour') }} as local_day,
    device_id,
    home_id,
    device_kind,
    time_zone,
    sum(produced_kwh) as produced_kwh,
    sum(consumed_kwh) as consumed_kwh,
    sum(net_kwh) as net_kwh,
    sum(readings)::integer as readings,
    count(*)::integer as hours_reporting,
    {{ last_by('last_charge_pct', 'hour_start') }} as last_charge_pct,
    max(loaded_at) as loaded_at
from {{ ref('fct_device_energy_hourly') }}
{{ rollup_where('devices') }}
group by
    {{ rollup_bucket('1 day', 'local_hour') }},
    device_id,
    home_id,
    device_kind,
    time_zone
