{#-
    One row per home and LOCAL day (the home's time zone; retention tier "daily",
    var('device_retention_daily_days')): produced, consumed, net and solar energy, and the storage state at
    the end of the day (capacity-weighted state of charge of the home's batteries and of its EVs in the
    day's last hour that reports them). Rolled up from fct_device_energy_hourly. Incremental: recomputes
    the home-days that hold an hour loaded within var('device_lookback_hours') of the newest one held.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['home_id', 'local_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        full_refresh=false,
        post_hook=[
            "{{ time_series_storage(this, 'day_start', ['home_id'], '30 days', '30 days', ['home_id', 'local_date']) }}",
            "{{ device_retention_policy(this, 'day_start', var('device_retention_daily_days')) }}",
        ],
    )
}}

with

hours as (

    select * from {{ ref('int_devices__home_hours') }}

),

changed as (

    select distinct
        hours.home_id,
        hours.local_date
    from hours
    -- a day the hourly tier has been pruned into is complete only here: keep it
    where
        (hours.local_date::timestamp at time zone hours.time_zone) >= {{ retention_watermark('hourly') }}
        and hours.loaded_at > {{ loaded_after_lookback(var('device_lookback_hours')) }}

),

selected as (

    select hours.*
    from hours
    inner join changed
        on
            hours.home_id = changed.home_id
            and hours.local_date = changed.local_date

),

final as (

    select
        home_id::text as home_id,
        local_date::date as local_date,
        max(time_zone)::text as time_zone,
        (local_date::timestamp at time zone max(time_zone))::timestamptz as day_start,
        sum(produced_kwh)::double precision as produced_kwh,
        sum(consumed_kwh)::double precision as consumed_kwh,
        sum(net_kwh)::double precision as net_kwh,
        sum(solar_kwh)::double precision as solar_kwh,
        {{ last_non_null('battery_storage_pct', 'hour_start') }}::double precision as battery_storage_pct,
        {{ last_non_null('ev_charge_pct', 'hour_start') }}::double precision as ev_charge_pct,
        count(*)::integer as hours_reporting,
        max(loaded_at)::timestamptz as loaded_at
    from selected
    group by home_id, local_date

)

select * from final
