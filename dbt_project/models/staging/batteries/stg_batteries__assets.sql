with

source as (

    select * from {{ source('batteries', 'assets') }}

),

renamed as (

    select
        device_id as asset_id,
        description as asset_name,
        state as vendor_state,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
