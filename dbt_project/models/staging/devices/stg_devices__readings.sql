with

source as (

    select * from {{ source('devices', 'readings') }}

),

renamed as (

    select
        device_id,
        measured_at,  -- the instant the loader parsed from timestamp_iso, part of the raw key
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
