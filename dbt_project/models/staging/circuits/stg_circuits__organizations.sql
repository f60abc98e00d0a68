with

source as (

    select * from {{ source('circuits', 'organizations') }}

),

renamed as (

    select
        id as organization_id,
        brand_id,
        name as organization_name,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
