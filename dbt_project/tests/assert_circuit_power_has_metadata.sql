-- Every power sample belongs to a known circuit: its (duid, circuit_number) leads through
-- stg_circuits__sensors to a row of stg_circuits__circuits. The duid alone is covered by a
-- relationships test; this checks the circuit number too. Returns each unknown pair once. Like the
-- tests of stg_circuits__power, it reads the newest load that has ended.
with

power_circuits as (

    select distinct
        duid,
        circuit_number
    from {{ ref('stg_circuits__power') }}
    where
        loaded_at = (
            select max(loads.loaded_at)
            from {{ ref('stg_circuits__loads') }} as loads
            where loads.has_ended
        )

),

known_circuits as (

    select
        sensors.duid,
        circuits.circuit_number
    from {{ ref('stg_circuits__circuits') }} as circuits
    inner join {{ ref('stg_circuits__sensors') }} as sensors
        on circuits.sensor_id = sensors.sensor_id

),

final as (

    select power_circuits.*
    from power_circuits
    left join known_circuits
        on
            power_circuits.duid = known_circuits.duid
            and power_circuits.circuit_number = known_circuits.circuit_number
    where known_circuits.duid is null

)

select * from final
