{%- set obis = decode_obis('obis_code') -%}

with

source as (

    select * from {{ source('meters', 'readings') }}

),

renamed as (

    select
        muid as meter_id,
        obis_code,
        {{ obis.obis_id }} as obis_id,
        {{ obis.direction }} as direction,
        {{ obis.quantity }} as quantity,
        {{ obis.unit }} as unit,
        {{ obis.interval_minutes }} as interval_minutes,
        measured_at,  -- the instant the loader parsed from timestamp_iso, part of the raw key
        value::double precision as value,
        measurement,
        quality,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
