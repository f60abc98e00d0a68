{#-
    One row per battery kWh counter series and UTC day with points: the maximum power (kW) that can move
    the counter that day, which bounds its steps (macro counter_steps, docs/domain.md "Cumulative
    counters"). Battery counters (BatteryImport, BatteryExport): the asset's rated power from
    battery_specs, else the day's largest BatteryPower reading, else var battery_default_max_power_kw.
    Grid and generation counters measure the site, not the battery: the day's largest reading of the power
    series of the same flow and meter point (GridPower-mainmeter for GridImportKwh-mainmeter,
    GeneratedPower for GeneratedExportKwh), else the var. Per day, so a day's bound depends only on that
    day's readings (battery_day_ranges recomputes the days around new power readings).
-#}
{%- set default_kw = var('battery_default_max_power_kw') %}

with

series_days as (

    select * from {{ ref('int_batteries__series_daily') }}

),

series as (

    select * from {{ ref('dim_battery_series') }}

),

specs as (

    select * from {{ ref('int_batteries__specs') }}

),

power_days as (

    -- Each power series' largest plausible reading per day.
    select
        series_days.asset_id,
        series.quantity,
        coalesce(series.meter_point, '') as meter_point,
        series_days.day_utc,
        max(series_days.max_power_w) / 1000.0 as max_power_kw
    from series_days
    inner join series
        on
            series_days.asset_id = series.asset_id
            and series_days.metric = series.metric
    where series_days.unit = 'W'
    group by series_days.asset_id, series.quantity, coalesce(series.meter_point, ''), series_days.day_utc

),

counter_days as (

    -- Each counter with the power series that measures the same flow at the same meter point.
    select
        series_days.asset_id,
        series_days.metric,
        series.quantity,
        coalesce(series.meter_point, '') as meter_point,
        series_days.day_utc,
        series.quantity in ('BatteryImport', 'BatteryExport') as is_battery_counter,
        case
            when series.quantity in ('BatteryImport', 'BatteryExport') then 'BatteryPower'
            when series.quantity in ('GridImport', 'GridExport') then 'GridPower'
            when series.quantity = 'GeneratedExport' then 'GeneratedPower'
        end as power_quantity
    from series_days
    inner join series
        on
            series_days.asset_id = series.asset_id
            and series_days.metric = series.metric
    where series_days.unit = 'kWh'

),

final as (

    select
        counter_days.asset_id,
        counter_days.metric,
        counter_days.quantity,
        counter_days.day_utc,
        case
            when counter_days.is_battery_counter
                then coalesce(specs.rated_power_kw, power_days.max_power_kw, {{ default_kw }})
            else coalesce(power_days.max_power_kw, {{ default_kw }})
        end::double precision as max_power_kw,
        case
            when counter_days.is_battery_counter and specs.rated_power_kw is not null then 'specs'
            when power_days.max_power_kw is not null then 'observed'
            else 'default'
        end as max_power_source
    from counter_days
    left join specs
        on counter_days.asset_id = specs.asset_id
    left join power_days
        on
            counter_days.asset_id = power_days.asset_id
            and counter_days.power_quantity = power_days.quantity
            and counter_days.meter_point = power_days.meter_point
            and counter_days.day_utc = power_days.day_utc

)

select * from final
