{#-
    Incremental: per battery, a run recomputes the UTC days around the points of the loads it has not taken
    in (macro battery_day_ranges), reading each series from its third point before those days to its first
    point after them (the counter rule labels the step into a point from the two points before it and the
    one after it, macro counter_steps).
-#}
{%- set expected_points_per_series = 86400 // var('battery_expected_interval_seconds') -%}
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

series_days as (

    select series_daily.*
    from {{ ref('int_batteries__series_daily') }} as series_daily
    inner join days
        on
            series_daily.asset_id = days.asset_id
            and series_daily.day_utc between days.first_day and days.last_day

),

points as (

    {{ rows_in_ranges(ref('battery_telemetry'), 'days', ['asset_id'], 'measured_at') }}

),

telemetry as (

    -- The points read, with the series' quantity (dim_battery_series decodes it).
    select
        points.asset_id,
        points.metric,
        series.quantity,
        points.unit,
        points.measured_at,
        points.value
    from points
    inner join series
        on
            points.asset_id = series.asset_id
            and points.metric = series.metric
    where
        (series.quantity in ('BatteryImport', 'BatteryExport') and points.unit = 'kWh')
        or (series.quantity = 'StateOfCharge' and points.unit = '%')

),

limits as (

    select * from {{ ref('int_batteries__counter_limits') }}

),

counter_readings as (

    -- The battery counters' points with the maximum power that can move them on their day.
    select
        telemetry.asset_id,
        telemetry.metric,
        telemetry.quantity,
        telemetry.measured_at,
        telemetry.value,
        limits.max_power_kw
    from telemetry
    inner join limits
        on
            telemetry.asset_id = limits.asset_id
            and telemetry.metric = limits.metric
            and (telemetry.measured_at at time zone 'UTC')::date = limits.day_utc
    where telemetry.unit = 'kWh'

),

-- Each step labelled, with its plausible energy (docs/domain.md, "Cumulative counters").
counter_points as (

    {{ counter_steps(
        'counter_readings',
        ['asset_id', 'metric', 'quantity', 'measured_at'],
        'value',
        ['asset_id', 'metric'],
        'measured_at',
        'max_power_kw',
    ) }}

),

soc_points as (

    select
        asset_id,
        metric,
        measured_at,
        value as soc_pct,
        lag(value) over (partition by asset_id, metric order by measured_at) as previous_soc_pct,
        coalesce(
            abs(value - lag(value) over (partition by asset_id, metric order by measured_at)) / 200.0, 0.0
        ) as efc
    from telemetry
    where quantity = 'StateOfCharge' and unit = '%'

),

points_per_day as (

    select
        asset_id,
        day_utc,
        sum(n_points)::bigint as n_points
    from series_days
    group by asset_id, day_utc

),

series_per_asset as (

    select
        asset_id,
        count(*) as n_series
    from series
    group by asset_id

),

energy_per_day as (

    -- A delta belongs to the day of the point that ends it, so a day's energy runs from the previous
    -- day's last point to this day's last point and the days add up to the whole.
    select
        asset_id,
        (measured_at at time zone 'UTC')::date as day_utc,
        sum(energy_kwh) filter (where quantity = 'BatteryImport') as energy_charged_kwh,
        sum(energy_kwh) filter (where quantity = 'BatteryExport') as energy_discharged_kwh,
        count(*) filter (where step_label = 'normal') as n_steps_normal,
        count(*) filter (where step_label = 'gap') as n_steps_gap,
        count(*) filter (where step_label = 'spike') as n_steps_spike,
        count(*) filter (where step_label = 'reset') as n_steps_reset,
        count(*) filter (where step_label = 'rollback') as n_steps_rollback
    from counter_points
    group by asset_id, (measured_at at time zone 'UTC')::date

),

soc_ordered as (

    select
        asset_id,
        (measured_at at time zone 'UTC')::date as day_utc,
        soc_pct,
        efc,
        first_value(coalesce(previous_soc_pct, soc_pct)) over day_window as soc_start_pct,
        last_value(soc_pct) over day_window as soc_end_pct
    from soc_points
    window day_window as (
        partition by asset_id, metric, (measured_at at time zone 'UTC')::date
        order by measured_at
        rows between unbounded preceding and unbounded following
    )

),

soc_per_day as (

    select
        asset_id,
        day_utc,
        sum(efc) as efc,
        min(soc_pct) as soc_min_pct,
        max(soc_pct) as soc_max_pct,
        avg(soc_pct) as soc_mean_pct,
        min(soc_start_pct) as soc_start_pct,
        min(soc_end_pct) as soc_end_pct
    from soc_ordered
    group by asset_id, day_utc

),

final as (

    select
        points_per_day.asset_id,
        points_per_day.day_utc,
        energy_per_day.energy_charged_kwh,
        energy_per_day.energy_discharged_kwh,
        coalesce(energy_per_day.n_steps_normal, 0) as n_steps_normal,
        coalesce(energy_per_day.n_steps_gap, 0) as n_steps_gap,
        coalesce(energy_per_day.n_steps_spike, 0) as n_steps_spike,
        coalesce(energy_per_day.n_steps_reset, 0) as n_steps_reset,
        coalesce(energy_per_day.n_steps_rollback, 0) as n_steps_rollback,
        soc_per_day.efc,
        soc_per_day.soc_min_pct,
        soc_per_day.soc_max_pct,
        soc_per_day.soc_mean_pct,
        soc_per_day.soc_start_pct,
        soc_per_day.soc_end_pct,
        case
            when
                energy_per_day.energy_charged_kwh > 0
                and abs(soc_per_day.soc_end_pct - soc_per_day.soc_start_pct)
                <= {{ var('battery_rte_soc_tolerance_pct') }}
                then 100.0 * energy_per_day.energy_discharged_kwh / energy_per_day.energy_charged_kwh
        end as round_trip_efficiency_pct,
        points_per_day.n_points,
        series_per_asset.n_series * {{ expected_points_per_series }} as n_points_expected,
        (
            100.0 * points_per_day.n_points / (series_per_asset.n_series * {{ expected_points_per_series }})
        )::double precision as coverage_pct,
        days.loaded_at
    from points_per_day
    inner join days
        on points_per_day.asset_id = days.asset_id
    inner join series_per_asset
        on points_per_day.asset_id = series_per_asset.asset_id
    left join energy_per_day
        on
            points_per_day.asset_id = energy_per_day.asset_id
            and points_per_day.day_utc = energy_per_day.day_utc
    left join soc_per_day
        on
            points_per_day.asset_id = soc_per_day.asset_id
            and points_per_day.day_utc = soc_per_day.day_utc

)

select * from final
