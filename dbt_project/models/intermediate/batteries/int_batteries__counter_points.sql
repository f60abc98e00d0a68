with

telemetry as (

    select * from {{ ref('stg_batteries__telemetry') }}

),

counters as (

    select
        asset_id,
        metric,
        quantity,
        measured_at,
        value as counter_kwh
    from telemetry
    where unit = 'kWh'

),

final as (

    select
        asset_id,
        metric,
        quantity,
        measured_at,
        counter_kwh,
        {{ counter_delta('counter_kwh', ['asset_id', 'metric'], 'measured_at') }} as delta_kwh,
        {{ counter_is_reset('counter_kwh', ['asset_id', 'metric'], 'measured_at') }} as is_reset
    from counters

)

select * from final
