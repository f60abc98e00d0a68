-- The vendor's record type and the decoded OBIS quantity agree: `energy` records carry energy codes,
-- `power` records carry power codes. A mismatch means the OBIS decoding (or the vendor) is wrong.
with

final as (

    select
        meter_id,
        obis_code,
        measurement,
        quantity,
        measured_at
    from {{ ref('stg_meters__readings') }}
    where
        (measurement = 'energy' and quantity not like '%\_energy')
        or (measurement = 'power' and quantity not like '%\_power')

)

select * from final
