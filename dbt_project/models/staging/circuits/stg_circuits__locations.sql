with

source as (

    select * from {{ source('circuits', 'locations') }}

),

renamed as (

    select
        id as location_id,
        organization_id,
        name as location_name,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
