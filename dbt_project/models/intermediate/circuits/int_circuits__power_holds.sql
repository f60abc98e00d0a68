{#-
    One row per circuit power sample: how long its power is held (last value carried forward, gaps longer
    than var('max_gap_seconds') contribute nothing; macros/energy/held_power.sql). The analyses and
    `gridhouse usage` clip these holds to an arbitrary window [from, to).
-#}
with

power as (

    select * from {{ ref('int_circuits__power') }}

),

holds as (

    {{ power_holds('power', ['circuit_id', 'organization_id']) }}

),

final as (

    select
        circuit_id,
        organization_id,
        held_from,
        held_until,
        power_w,
        held_seconds
    from holds

)

select * from final
