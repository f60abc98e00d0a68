{#-
    The capacity fit's sums per battery and UTC day (fct_battery_health): over the day's SoC steps, the
    SoC change (z) and the energy charged (x) and discharged (y) over the same interval, as n, sum(efc),
    sum(x^2), sum(y^2), sum(xy), sum(xz), sum(yz). Only steps whose two counter steps are plausible
    (labelled normal or gap by the counter rule, macro counter_steps) count. Incremental like
    fct_battery_daily (macro battery_day_ranges).
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
    where series.quantity in ('StateOfCharge', 'BatteryImport', 'BatteryExport', 'BatteryTemperature')

),

instants as (

    -- SoC and both battery counters side by side per instant (the vendor samples every series at the same
    -- instants); only instants with all three, so every step below spans the same interval for all three.
    select
        asset_id,
        measured_at,
        min(value) filter (where quantity = 'StateOfCharge' and unit = '%') as soc_pct,
        min(value) filter (where quantity = 'BatteryImport' and unit = 'kWh') as charged_counter_kwh,
        min(value) filter (where quantity = 'BatteryExport' and unit = 'kWh') as discharged_counter_kwh,
        min(value) filter (where quantity = 'BatteryTemperature' and unit = '°C') as cell_temperature_c
    from telemetry
    group by asset_id, measured_at

),

limits as (

    select * from {{ ref('int_batteries__counter_limits') }}

),

complete_instants as (

    -- With the maximum power that can move each counter on the instant's day.
    select
        instants.asset_id,
        instants.measured_at,
        instants.soc_pct,
        instants.charged_counter_kwh,
        instants.discharged_counter_kwh,
        instants.cell_temperature_c,
        charged_limits.max_power_kw as charged_max_power_kw,
        discharged_limits.max_power_kw as discharged_max_power_kw
    from instants
    inner join limits as charged_limits
        on
            instants.asset_id = charged_limits.asset_id
            and charged_limits.quantity = 'BatteryImport'
            and (instants.measured_at at time zone 'UTC')::date = charged_limits.day_utc
    inner join limits as discharged_limits
        on
            instants.asset_id = discharged_limits.asset_id
            and discharged_limits.quantity = 'BatteryExport'
            and (instants.measured_at at time zone 'UTC')::date = discharged_limits.day_utc
    where
        instants.soc_pct is not null
        and instants.charged_counter_kwh is not null
        and instants.discharged_counter_kwh is not null

),

-- Both counters labelled, one pass each, the second over the first one's result (no self-join).
charged_steps as (

    {{ counter_steps(
        'complete_instants',
        [
            'asset_id', 'measured_at', 'soc_pct', 'cell_temperature_c', 'discharged_counter_kwh',
            'discharged_max_power_kw',
        ],
        'charged_counter_kwh',
        ['asset_id'],
        'measured_at',
        'charged_max_power_kw',
        prefix='charged_',
    ) }}

),

labelled_steps as (

    {{ counter_steps(
        'charged_steps',
        ['asset_id', 'measured_at', 'soc_pct', 'cell_temperature_c', 'charged_step_label', 'charged_energy_kwh'],
        'discharged_counter_kwh',
        ['asset_id'],
        'measured_at',
        'discharged_max_power_kw',
        prefix='discharged_',
    ) }}

),

steps as (

    -- One step per instant: the SoC change since the previous instant (z) and the energy charged (x) and
    -- discharged (y) over the same interval.
    select
        asset_id,
        (measured_at at time zone 'UTC')::date as day_utc,
        soc_pct,
        cell_temperature_c,
        soc_pct - lag(soc_pct) over by_asset as soc_delta_pct,
        abs(soc_pct - lag(soc_pct) over by_asset) / 200.0 as efc,
        charged_energy_kwh as charged_kwh,
        discharged_energy_kwh as discharged_kwh,
        charged_step_label in ('normal', 'gap') and discharged_step_label in ('normal', 'gap') as is_plausible
    from labelled_steps
    window by_asset as (partition by asset_id order by measured_at)

),

usable_steps as (

    select *
    from steps
    where
        soc_delta_pct is not null
        and is_plausible

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
        -- The day's SoC range over those steps: the swing the minimum-swing rule reads (fct_battery_health).
        max(soc_pct) - min(soc_pct) as soc_range_pct,
        sum(cell_temperature_c) as cell_temperature_sum_c,
        count(cell_temperature_c) as n_cell_temperature,
        max(loaded_at) as loaded_at
    from usable_days
    group by asset_id, day_utc

)

select * from final
