{#-
    The capacity fit's sums per battery and UTC day (fct_battery_health): over the day's SoC steps, the
    SoC change (z) and the energy charged (x) and discharged (y) over the same interval, as n, sum(efc),
    sum(x^2), sum(y^2), sum(xy), sum(xz), sum(yz). Incremental like fct_battery_daily: per battery, the days the loads it has not taken in touched
    and the day after (macro battery_day_ranges), reading the day before for each day's first step.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['asset_id', 'day_utc'],
        on_schema_change='fail',
    )
}}

with

days as (

    {{ battery_day_ranges() }}

),

series as (

    select * from {{ ref('dim_battery_series') }}

),

points as (

    {{ rows_in_ranges(ref('battery_telemetry'), 'days', ['asset_id'], 'measured_at') }}

),

telemetry as (

    select
        points.asset_id,
        series.quantity,
        points.unit,
        points.measured_at,
        points.value
    from points
    inner join series
        on
            points.asset_id = series.asset_id
            and points.metric = series.metric
    where series.quantity in ('StateOfCharge', 'BatteryImport', 'BatteryExport')

),

instants as (

    -- SoC and both battery counters side by side per instant (the vendor samples every series at the same
    -- instants); only instants with all three, so every step below spans the same interval for all three.
    select
        asset_id,
        measured_at,
        min(value) filter (where quantity = 'StateOfCharge' and unit = '%') as soc_pct,
        min(value) filter (where quantity = 'BatteryImport' and unit = 'kWh') as charged_counter_kwh,
        min(value) filter (where quantity = 'BatteryExport' and unit = 'kWh') as discharged_counter_kwh
    from telemetry
    group by asset_id, measured_at

),

complete_instants as (

    select *
    from instants
    where
        soc_pct is not null
        and charged_counter_kwh is not null
        and discharged_counter_kwh is not null

),

steps as (

    -- One step per instant: the SoC change since the previous instant (z) and the energy charged (x) and
    -- discharged (y) over the same interval (counter_delta: a reset step is the new value, so skip those).
    select
        asset_id,
        (measured_at at time zone 'UTC')::date as day_utc,
        soc_pct - lag(soc_pct) over by_asset as soc_delta_pct,
        abs(soc_pct - lag(soc_pct) over by_asset) / 200.0 as efc,
        {{ counter_delta('charged_counter_kwh', ['asset_id'], 'measured_at') }} as charged_kwh,
        {{ counter_delta('discharged_counter_kwh', ['asset_id'], 'measured_at') }} as discharged_kwh,
        {{ counter_is_reset('charged_counter_kwh', ['asset_id'], 'measured_at') }}
        or {{ counter_is_reset('discharged_counter_kwh', ['asset_id'], 'measured_at') }} as is_reset
    from complete_instants
    window by_asset as (partition by asset_id order by measured_at)

),

usable_steps as (

    select *
    from steps
    where
        soc_delta_pct is not null
        and not is_reset

),

usable_days as (

    select
        usable_steps.*,
        days.loaded_at
    from usable_steps
    inner join days
        on
            usable_steps.asset_id = days.asset_id
            and usable_steps.day_utc between days.first_day and days.last_day

),

final as (

    select
        asset_id,
        day_utc,
        count(*) as n_steps,
        sum(efc) as efc,
        sum(charged_kwh * charged_kwh) as sxx,
        sum(discharged_kwh * discharged_kwh) as syy,
        sum(charged_kwh * discharged_kwh) as sxy,
        sum(charged_kwh * soc_delta_pct) as sxz,
        sum(discharged_kwh * soc_delta_pct) as syz,
        max(loaded_at) as loaded_at
    from usable_days
    group by asset_id, day_utc

)

select * from final
