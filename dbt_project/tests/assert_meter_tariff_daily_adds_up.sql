-- The tariffs of a meter's local day add up to the day's totals in fct_meter_daily.
with

tariffs as (

    select
        meter_id,
        local_date,
        sum(import_kwh) as import_kwh,
        sum(export_kwh) as export_kwh,
        sum(intervals_received) as intervals_received
    from {{ ref('fct_meter_tariff_daily') }}
    group by meter_id, local_date

),

daily as (

    select * from {{ ref('fct_meter_daily') }}

)

select
    daily.meter_id,
    daily.local_date,
    daily.import_kwh,
    tariffs.import_kwh as tariff_import_kwh,
    daily.export_kwh,
    tariffs.export_kwh as tariff_export_kwh
from daily
full outer join tariffs
    on
        daily.meter_id = tariffs.meter_id
        and daily.local_date = tariffs.local_date
where
    daily.meter_id is null
    or tariffs.meter_id is null
    or abs(coalesce(daily.import_kwh, 0) - coalesce(tariffs.import_kwh, 0)) > 1e-9
    or abs(coalesce(daily.export_kwh, 0) - coalesce(tariffs.export_kwh, 0)) > 1e-9
    or daily.intervals_received <> tariffs.intervals_received
