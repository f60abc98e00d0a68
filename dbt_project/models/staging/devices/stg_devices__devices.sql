with

source as (

    {{ newest_rows(source('devices', 'devices'), ['device_id']) }}

),

renamed as (

    select
        device_id,
        home_id,
        kind as device_kind,
        name as device_name,
        timezone as time_zone,
        {{ json_value('specs_json') }} as specs,
        {{ json_number('specs_json', 'rated_w') }} as rated_w,
        {{ json_number('specs_json', 'average_w') }} as average_w,
        coalesce(
            {{ json_number('specs_json', 'capacity_wh') }},
            {{ json_number('specs_json', 'battery_wh') }}
        ) as storage_capacity_wh,
        {{ json_number('specs_json', 'max_charge_w') }} as max_charge_w,
        {{ json_number('specs_json', 'max_discharge_w') }} as max_discharge_w,
        {{ json_number('specs_json', 'driving_w') }} as driving_w,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
