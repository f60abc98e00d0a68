-- Every power sample belongs to a known circuit: its (duid, circuit_number) leads through
-- stg_circuits__sensors to a row of stg_circuits__circuits. The duid alone is covered by a
-- relationships test; this checks the circuit number too. Returns each unknown pair once. Like the
-- tests of stg_circuits__power, it reads the loads the build takes in (all on a full refresh).
{%- set built_loaded_at = test_window_start('fct_circuit_usage_hourly', 'loaded_at', 0) %}
with

power_circuits as (

    select distinct
        duid,
        circuit_number
    from {{ ref('stg_circuits__power') }}
    where loaded_at > {{ built_loaded_at }}

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
