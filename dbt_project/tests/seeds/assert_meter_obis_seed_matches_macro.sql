-- seeds/obis_codes.csv and the decode_obis macro (used by staging) decode every seed code the same way.
{%- set obis = decode_obis('obis_code') %}

with

seed as (

    select * from {{ ref('obis_codes') }}

),

decoded as (

    select
        obis_code,
        {{ obis.obis_id }} as obis_id,
        {{ obis.direction }} as direction,
        {{ obis.quantity }} as quantity,
        {{ obis.unit }} as unit,
        {{ obis.interval_minutes }} as interval_minutes
    from seed

)

select
    seed.obis_code,
    seed.obis_id as seed_obis_id,
    decoded.obis_id as macro_obis_id,
    seed.direction as seed_direction,
    decoded.direction as macro_direction,
    seed.quantity as seed_quantity,
    decoded.quantity as macro_quantity
from seed
inner join decoded
    on seed.obis_code = decoded.obis_code
where
    seed.obis_id is distinct from decoded.obis_id
    or seed.direction is distinct from decoded.direction
    or seed.quantity is distinct from decoded.quantity
    or seed.unit is distinct from decoded.unit
    or seed.interval_minutes is distinct from decoded.interval_minutes
