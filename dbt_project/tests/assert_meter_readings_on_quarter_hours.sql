-- Interval energy readings (OBIS D = 29, 15-minute measuring period) start on a quarter hour in UTC:
-- minute 0, 15, 30 or 45 and zero seconds. Returns every reading that does not.
with

interval_readings as (

    select
        meter_id,
        obis_code,
        measured_at
    from {{ ref('stg_meters__readings') }}
    where interval_minutes = 15

),

final as (

    select *
    from interval_readings
    where
        extract(minute from measured_at at time zone 'UTC')::integer % 15 <> 0
        or extract(second from measured_at at time zone 'UTC') <> 0

)

select * from final
