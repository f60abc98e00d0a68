with

source as (

    select * from {{ source('circuits', 'brands') }}

),

renamed as (

    select
        id as brand_id,
        name as brand_name,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
