with

source as (

    select * from {{ source('circuits', 'electric_sensors') }}

),

renamed as (

    select
        id as sensor_id,
        duid,
        name as sensor_name,
        location_id,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
