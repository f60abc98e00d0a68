with

telemetry as (

    select * from {{ ref('stg_batteries__telemetry') }}

),

limits as (

    select * from {{ ref('int_batteries__counter_limits') }}

),

counters as (

    -- Every kWh counter point with the maximum power that can move the counter on its day.
    select
        telemetry.asset_id,
        telemetry.metric,
        telemetry.quantity,
        telemetry.measured_at,
        telemetry.value as counter_kwh,
        limits.max_power_kw
    from telemetry
    inner join limits
        on
            telemetry.asset_id = limits.asset_id
            and telemetry.metric = limits.metric
            and (telemetry.measured_at at time zone 'UTC')::date = limits.day_utc
    where telemetry.unit = 'kWh'

),

final as (

    {{ counter_steps(
        'counters',
        ['asset_id', 'metric', 'quantity', 'measured_at', 'counter_kwh', 'max_power_kw'],
        'counter_kwh',
        ['asset_id', 'metric'],
        'measured_at',
        'max_power_kw',
    ) }}

)

select * from final
