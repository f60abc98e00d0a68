{#-
    One row per battery series and UTC day: points, first and last point and the last value. The small
    table dim_battery_series and fct_battery_daily read instead of the history. Incremental: recomputes
    the whole UTC days from `battery_lookback_hours` before the newest point it holds, which covers every
    point battery_telemetry rewrote in this run.
-#}
{%- set first_day = lookback_first_day(this, 'last_measured_at') -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['asset_id', 'metric', 'day_utc'],
        on_schema_change='fail',
    )
}}

with

telemetry as (

    select * from {{ ref('battery_telemetry') }}
    {% if is_incremental() %}
        where measured_at >= {{ first_day }}::timestamp at time zone 'UTC'
    {% endif %}

),

summarised as (

    select
        asset_id,
        metric,
        (measured_at at time zone 'UTC')::date as day_utc,
        min(unit) as unit,
        count(*) as n_points,
        min(measured_at) as first_measured_at,
        max(measured_at) as last_measured_at
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
        latest.last_value
    from summarised
    inner join latest
        on
            summarised.asset_id = latest.asset_id
            and summarised.metric = latest.metric
            and summarised.day_utc = latest.day_utc

)

select * from final
