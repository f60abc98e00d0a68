with

source as (

    select * from {{ source('circuits', 'power') }}

),

renamed as (

    select
        duid,
        -- As raw keeps it (bigint): a cast would hide the raw key (duid, circuit_number, measured_at) from a
        -- bound on one circuit.
        circuit_number,
        -- The instant the loader parsed from timestamp_iso, the last column of the raw key
        -- (duid, circuit_number, measured_at): a bound on it reaches the key as it is.
        measured_at,
        -- As published (ISO 8601 with its zone, the local date first).
        timestamp_iso,
        power_watts::double precision as power_w,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
