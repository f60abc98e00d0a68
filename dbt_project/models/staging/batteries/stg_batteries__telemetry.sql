{%- set series = decode_series_name('series_name') -%}

with

source as (

    select * from {{ source('batteries', 'telemetry') }}

),

renamed as (

    select
        device_id as asset_id,
        series_name as metric,
        {{ series.quantity }} as quantity,
        {{ series.meter_point }} as meter_point,
        {{ series.unit }} as unit,
        timestamptz 'epoch' + epoch_ms * interval '1 millisecond' as measured_at,
        value::double precision as value,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
