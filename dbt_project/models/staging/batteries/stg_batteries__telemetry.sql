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
        -- As published: a bound on it prunes raw rows through the (device_id, series_name, epoch_ms) index.
        epoch_ms,
        value::double precision as value,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
