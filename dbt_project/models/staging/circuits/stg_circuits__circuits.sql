with

source as (

    select * from {{ source('circuits', 'circuits') }}

),

renamed as (

    select
        sensor_id,
        circuit_number::integer as circuit_number,
        name as circuit_name,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
