with

source as (

    select * from {{ source('circuits', 'power') }}

),

renamed as (

    select
        duid,
        circuit_number::integer as circuit_number,
        timestamp_iso::timestamptz as measured_at,
        -- As published (ISO 8601, the local date first): a bound on it prunes raw rows through the
        -- (duid, circuit_number, timestamp_iso) key, which measured_at, a cast, cannot.
        timestamp_iso,
        power_watts::double precision as power_w,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

),

final as (

    select * from renamed

)

select * from final
