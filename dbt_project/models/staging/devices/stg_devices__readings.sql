with

source as (

    select * from {{ source('devices', 'readings') }}

),

renamed as (

    select
        device_id,
        timestamp_iso::timestamptz as measured_at,
        power_w::double precision as power_w,
        energy_wh::double precision as energy_wh,
        charge_pct::double precision as charge_pct,
        mode,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
