{{
    config(
        post_hook=["{{ ensure_index(this, ['asset_id', 'quantity']) }}"],
    )
}}

with

telemetry as (

    select * from {{ ref('stg_batteries__telemetry') }}

),

summarised as (

    select
        asset_id,
        metric,
        min(quantity) as quantity,
        min(meter_point) as meter_point,
        min(unit) as unit,
        min(measured_at) as first_measured_at,
        max(measured_at) as last_measured_at,
        count(*) as n_points
    from telemetry
    group by asset_id, metric

),

latest as (

    select distinct on (asset_id, metric)
        asset_id,
        metric,
        value as last_value
    from telemetry
    order by asset_id asc, metric asc, measured_at desc

),

final as (

    select
        summarised.asset_id,
        summarised.metric,
        summarised.quantity,
        summarised.meter_point,
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
