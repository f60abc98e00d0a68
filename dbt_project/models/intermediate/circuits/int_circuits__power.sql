{#- Per-minute circuit power with the circuit's surrogate id and organisation. -#}
with

power as (

    select * from {{ ref('stg_circuits__power') }}

),

circuits as (

    select * from {{ ref('dim_circuits') }}

),

final as (

    select
        circuits.circuit_id,
        circuits.organization_id,
        power.duid,
        power.circuit_number,
        power.measured_at,
        power.timestamp_iso,
        power.power_w,
        power.loaded_at
    from power
    inner join circuits
        on
            power.duid = circuits.duid
            and power.circuit_number = circuits.circuit_number

)

select * from final
