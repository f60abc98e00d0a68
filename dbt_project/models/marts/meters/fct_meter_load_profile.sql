{#-
    The load-profile heatmap: one row per meter, local ISO weekday (1 = Monday) and local quarter-hour of
    the day (0 = 00:00-00:15 ... 95 = 23:45-24:00), with the mean imported / exported kWh per interval
    over every day observed. On the autumn DST day the repeated hour counts twice in its slots.
    Per meter (repeated on each of its rows): baseload_kwh, the mean over nights of each night's
    smallest import interval between 00:00 and 05:00 local, baseload_w the same as mean power, and
    peak_hour, the local hour of the day with the highest mean hourly import.
-#}
{%- set tz = dbt.string_literal(var('meter_time_zone')) %}

with

intervals as (

    select * from {{ ref('fct_meter_interval') }}

),

local_intervals as (

    select
        meter_id,
        tenant_id,
        interval_start at time zone {{ tz }} as local_start,
        import_kwh,
        export_kwh
    from intervals

),

slotted as (

    select
        meter_id,
        tenant_id,
        local_start::date as local_date,
        extract(isodow from local_start)::integer as local_weekday,
        (extract(hour from local_start) * 4 + extract(minute from local_start)::integer / 15)::integer
            as quarter_hour,
        extract(hour from local_start)::integer as local_hour,
        import_kwh,
        export_kwh
    from local_intervals

),

profile as (

    select
        meter_id,
        max(tenant_id) as tenant_id,
        local_weekday,
        quarter_hour,
        avg(import_kwh) as mean_import_kwh,
        avg(export_kwh) as mean_export_kwh,
        count(distinct local_date)::integer as days_observed
    from slotted
    group by meter_id, local_weekday, quarter_hour

),

night_minimum as (

    select
        meter_id,
        local_date,
        min(import_kwh) as min_import_kwh
    from slotted
    where local_hour < 5
    group by meter_id, local_date

),

baseload as (

    select
        meter_id,
        avg(min_import_kwh) as baseload_kwh
    from night_minimum
    group by meter_id

),

hourly as (

    select
        meter_id,
        local_hour,
        sum(import_kwh) / nullif(count(distinct local_date), 0) as mean_hourly_import_kwh
    from slotted
    group by meter_id, local_hour

),

peak as (

    select distinct on (meter_id)
        meter_id,
        local_hour as peak_hour,
        mean_hourly_import_kwh as peak_hour_import_kwh
    from hourly
    where mean_hourly_import_kwh is not null
    order by meter_id asc, mean_hourly_import_kwh desc, local_hour asc

),

final as (

    select
        profile.meter_id,
        profile.tenant_id,
        profile.local_weekday,
        (array['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'])[
            profile.local_weekday
        ]
            as weekday_name,
        profile.quarter_hour,
        to_char(make_time(profile.quarter_hour / 4, (profile.quarter_hour % 4) * 15, 0), 'HH24:MI')
            as local_time_of_day,
        profile.mean_import_kwh,
        profile.mean_export_kwh,
        profile.days_observed,
        baseload.baseload_kwh,
        baseload.baseload_kwh * 4000 as baseload_w,
        peak.peak_hour,
        peak.peak_hour_import_kwh
    from profile
    left join baseload
        on profile.meter_id = baseload.meter_id
    left join peak
        on profile.meter_id = peak.meter_id

)

select * from final
