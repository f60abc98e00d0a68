{#-
    One row per battery series and UTC day: points, first and last point, the last value and the largest
    power reading. The small table dim_battery_series, fct_battery_daily and the counter rule's power
    limits (int_batteries__counter_limits) read instead of the history. Incremental: per battery,
    recomputes every UTC day from the first to the last point of the loads it has not taken in (macro
    touched_ranges over the storage's loaded_at).
-#}
{%- set ceiling_w = var('battery_default_max_power_kw') * 1000 * (1 + var('plausible_power_margin')) -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['asset_id', 'metric', 'day_utc'],
        on_schema_change='fail',
    )
}}

with

touched as (

    {{ touched_ranges(ref('int_batteries__telemetry_scaled'), 'batteries', ['asset_id'], 'measured_at') }}

),

days as (

    select
        asset_id,
        date_trunc('day', first_at at time zone 'UTC') at time zone 'UTC' as read_from,
        date_trunc('day', last_at at time zone 'UTC') at time zone 'UTC' + interval '1 day' as read_until,
        loaded_at
    from touched

),

telemetry as (

    -- Each battery's points of the whole days touched.
    {{ rows_in_ranges(ref('battery_telemetry'), 'days', ['asset_id'], 'measured_at') }}

),

summarised as (

    select
        asset_id,
        metric,
        (measured_at at time zone 'UTC')::date as day_utc,
        min(unit) as unit,
        count(*) as n_points,
        min(measured_at) as first_measured_at,
        max(measured_at) as last_measured_at,
        -- The day's largest plausible power reading (W series, within the ceiling of a site without specs,
        -- as int_batteries__power_points): the counter rule's observed maximum power
        -- (int_batteries__counter_limits). NaN and infinity lie beyond the ceiling.
        max(abs(value)) filter (where unit = 'W' and abs(value) <= {{ ceiling_w }}) as max_power_w,
        max(range_loaded_at) as loaded_at
    from telemetry
    group by asset_id, metric, (measured_at at time zone 'UTC')::date

),

latest as (

    select distinct on (asset_id, metric, (measured_at at time zone 'UTC')::date)
        asset_id,
        metric,
        (measured_at at time zone 'UTC')::date as day_utc,
        value as last_value
    from telemetry
    order by asset_id asc, metric asc, (measured_at at time zone 'UTC')::date asc, measured_at desc

),

final as (

    select
        summarised.asset_id,
        summarised.metric,
        summarised.day_utc,
        summarised.unit,
        summarised.n_points,
        summarised.first_measured_at,
        summarised.last_measured_at,
        latest.last_value,
        summarised.max_power_w,
        summarised.loaded_at
    from summarised
    inner join latest
        on
            summarised.asset_id = latest.asset_id
            and summarised.metric = latest.metric
            and summarised.day_utc = latest.day_utc

)

select * from final
