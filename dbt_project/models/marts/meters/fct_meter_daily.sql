{#-
    One row per meter and LOCAL calendar day (var('meter_time_zone'), default Europe/Zurich).
    intervals_expected is the length of that local day in quarter-hours, computed from the time zone
    (92 on the spring DST day, 100 on the autumn one, else 96), never a fixed offset.
-#}
{%- set tz = dbt.string_literal(var('meter_time_zone')) %}

with

intervals as (

    select * from {{ ref('fct_meter_interval') }}

),

days as (

    select
        meter_id,
        max(tenant_id) as tenant_id,
        (interval_start at time zone {{ tz }})::date as local_date,
        sum(import_kwh) as import_kwh,
        sum(export_kwh) as export_kwh,
        count(*) as intervals_received
    from intervals
    group by meter_id, (interval_start at time zone {{ tz }})::date

),

final as (

    select
        meter_id,
        tenant_id,
        local_date,
        {{ tz }}::text as time_zone,
        import_kwh,
        export_kwh,
        coalesce(import_kwh, 0) - coalesce(export_kwh, 0) as net_kwh,
        {{ local_day_quarter_hours('local_date', tz) }} as intervals_expected,
        intervals_received::integer as intervals_received,
        round(
            (100.0 * intervals_received / {{ local_day_quarter_hours('local_date', tz) }})::numeric, 2
        )::double precision as completeness_pct
    from days

)

select * from final
