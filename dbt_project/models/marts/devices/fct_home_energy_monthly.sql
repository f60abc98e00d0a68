{#-
    One row per home and LOCAL calendar month (retention tier "monthly": kept forever unless
    var('device_retention_monthly_days') is set): energy totals and the storage state at the end of the
    month's last reporting day. Rolled up from fct_home_energy_daily. Incremental like the daily table.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['home_id', 'local_month'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        full_refresh=false,
        post_hook=[
            "{{ time_series_storage(this, 'month_start', ['home_id'], '365 days', '365 days', ['home_id', 'local_month']) }}",
            "{{ device_retention_policy(this, 'month_start', var('device_retention_monthly_days')) }}",
        ],
    )
}}

with

days as (

    select * from {{ ref('fct_home_energy_daily') }}

),

changed as (

    select distinct
        days.home_id,
        date_trunc('month', days.local_date)::date as local_month
    from days
    -- a month the daily tier has been pruned into is complete only here: keep it
    where
        (date_trunc('month', days.local_date)::timestamp at time zone days.time_zone)
        >= {{ retention_watermark('daily') }}
        and days.loaded_at > {{ loaded_after_lookback(var('device_lookback_hours')) }}

),

selected as (

    select
        days.*,
        date_trunc('month', days.local_date)::date as local_month
    from days
    inner join changed
        on
            days.home_id = changed.home_id
            and date_trunc('month', days.local_date)::date = changed.local_month

),

final as (

    select
        home_id::text as home_id,
        local_month::date as local_month,
        max(time_zone)::text as time_zone,
        (local_month::timestamp at time zone max(time_zone))::timestamptz as month_start,
        sum(produced_kwh)::double precision as produced_kwh,
        sum(consumed_kwh)::double precision as consumed_kwh,
        sum(net_kwh)::double precision as net_kwh,
        sum(solar_kwh)::double precision as solar_kwh,
        {{ last_non_null('battery_storage_pct', 'local_date') }}::double precision as battery_storage_pct,
        {{ last_non_null('ev_charge_pct', 'local_date') }}::double precision as ev_charge_pct,
        count(*)::integer as days_reporting,
        max(loaded_at)::timestamptz as loaded_at
    from selected
    group by home_id, local_month

)

select * from final
