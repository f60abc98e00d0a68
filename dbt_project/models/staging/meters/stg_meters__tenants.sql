with

source as (

    select * from {{ source('meters', 'tenants') }}

),

renamed as (

    select
        muid as meter_id,
        tenant_id,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
