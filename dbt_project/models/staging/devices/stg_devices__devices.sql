with

source as (

    select * from {{ source('devices', 'devices') }}

),

renamed as (

    select
        device_id,
        home_id,
        kind as device_kind,
        name as device_name,
        timezone as time_zone,
        specs_json::jsonb as specs,
        (specs_json::jsonb ->> 'rated_w')::double precision as rated_w,
        (specs_json::jsonb ->> 'average_w')::double precision as average_w,
        coalesce(
            (specs_json::jsonb ->> 'capacity_wh')::double precision,
            (specs_json::jsonb ->> 'battery_wh')::double precision
        ) as storage_capacity_wh,
        (specs_json::jsonb ->> 'max_charge_w')::double precision as max_charge_w,
        (specs_json::jsonb ->> 'max_discharge_w')::double precision as max_discharge_w,
        (specs_json::jsonb ->> 'driving_w')::double precision as driving_w,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
