{#-
    One row per device and LOCAL calendar month of its home (retention tier "monthly": kept forever unless
    var('device_retention_monthly_days') is set): energy totals, days reporting and the state of charge at
    the end of the month's last reporting day. Rolled up from fct_device_energy_daily: with TimescaleDB a
    hierarchical continuous aggregate, on plain PostgreSQL an incremental table.
-#}
{{
    config(
        materialized='rollup',
        source_model='fct_device_energy_daily',
        source_time='local_day',
        time_column='local_month',
        bucket_width='1 month',
        unique_key=['local_month', 'device_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        full_refresh=false,
        source_retention_days=var('device_retention_daily_days'),
        retention_days=var('device_retention_monthly_days'),
        rows_column='readings',
        source_rows='sum(readings)',
        refresh_start='400 days',
        refresh_every='1 day',
        partition_unit='year',
    )
}}

select
    {{ rollup_bucket('1 month', 'local_day') }} as local_month,
    device_id,
    home_id,
    device_kind,
    time_zone,
    sum(produced_kwh) as produced_kwh,
    sum(consumed_kwh) as consumed_kwh,
    sum(net_kwh) as net_kwh,
    sum(readings)::integer as readings,
    count(*)::integer as days_reporting,
    {{ last_by('last_charge_pct', 'local_day') }} as last_charge_pct,
    max(loaded_at) as loaded_at
from {{ ref('fct_device_energy_daily') }}
{{ rollup_where('devices') }}
group by
    {{ rollup_bucket('1 month', 'local_day') }},
    device_id,
    home_id,
    device_kind,
    time_zone
