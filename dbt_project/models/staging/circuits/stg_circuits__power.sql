with

source as (

    select * from {{ source('circuits', 'power') }}

),

renamed as (

    select
        duid,
        circuit_number::integer as circuit_number,
        timestamp_iso::timestamptz as measured_at,
        power_watts::double precision as power_w,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
