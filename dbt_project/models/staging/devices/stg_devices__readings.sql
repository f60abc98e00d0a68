with

source as (

    {{ newest_rows(source('devices', 'readings'), ['local_day', 'device_id', 'measured_at']) }}

),

renamed as (

    select
        device_id,
        measured_at,  -- the instant the loader parsed from timestamp_iso, part of the raw key
        power_w::{{ sqltype('double precision') }} as power_w,
        energy_wh::{{ sqltype('double precision') }} as energy_wh,
        charge_pct::{{ sqltype('double precision') }} as charge_pct,
        mode,
        _source_file as source_file,
        {%- if target.type == 'spark' %}
        local_day,  -- the lake's partition: the local day of the device's home (ingest/lake.py)
        {%- endif %}
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
