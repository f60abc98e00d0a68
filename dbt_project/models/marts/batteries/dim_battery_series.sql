{#- Every row recomputed on every run and replaced in place (delete+insert on the key, in one
    transaction), so the views over this table (alerts.battery_low_soc) are never dropped by a rebuild. -#}
{{
    config(
        materialized='incremental_in_place',
        incremental_strategy='delete+insert',
        unique_key=['asset_id', 'metric'],
        on_schema_change='fail',
        post_hook=["{{ ensure_index(this, ['asset_id', 'quantity']) }}"],
    )
}}
{%- set series = decode_series_name('summarised.metric') -%}

with

series_days as (

    -- One row per series and day (incremental): this table costs series x days, not points.
    select * from {{ ref('int_batteries__series_daily') }}

),

summarised as (

    select
        asset_id,
        metric,
        min(unit) as unit,
        min(first_measured_at) as first_measured_at,
        max(last_measured_at) as last_measured_at,
        sum(n_points)::bigint as n_points
    from series_days
    group by asset_id, metric

),

latest as (

    select distinct on (asset_id, metric)
        asset_id,
        metric,
        last_value
    from series_days
    order by asset_id asc, metric asc, day_utc desc

),

final as (

    select
        summarised.asset_id,
        summarised.metric,
        {{ series.quantity }} as quantity,
        {{ series.meter_point }} as meter_point,
        summarised.unit,
        summarised.first_measured_at,
        summarised.last_measured_at,
        latest.last_value,
        summarised.n_points
    from summarised
    inner join latest
        on
            summarised.asset_id = latest.asset_id
            and summarised.metric = latest.metric

)

select * from final
