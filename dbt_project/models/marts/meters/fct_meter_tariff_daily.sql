{#-
    One row per meter, LOCAL day and tariff (`high` / `low` from the tariff_windows seed): the day's
    imported and exported energy split by the window each interval's local START falls in. Intervals
    no window covers land in tariff `unassigned` (the seed test keeps that from happening), so the
    tariffs of a day always add up to fct_meter_daily.
-#}
{%- set tz = dbt.string_literal(var('meter_time_zone')) %}

with

intervals as (

    select * from {{ ref('fct_meter_interval') }}

),

windows as (

    {{ tariff_windows() }}

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

assigned as (

    select
        local_intervals.meter_id,
        local_intervals.tenant_id,
        local_intervals.local_start::date as local_date,
        coalesce(tariff_match.tariff_name, 'unassigned') as tariff_name,
        local_intervals.import_kwh,
        local_intervals.export_kwh
    from local_intervals
    left join lateral (
        select windows.tariff_name
        from windows
        where
            extract(isodow from local_intervals.local_start)::integer = any(windows.weekdays)
            and local_intervals.local_start::time >= windows.local_start
            and local_intervals.local_start::time < windows.local_end
            and local_intervals.local_start::date between windows.valid_from and windows.valid_to
        order by windows.valid_from desc
        limit 1
    ) as tariff_match on true

),

final as (

    select
        meter_id,
        max(tenant_id) as tenant_id,
        local_date,
        tariff_name,
        sum(import_kwh) as import_kwh,
        sum(export_kwh) as export_kwh,
        count(*)::integer as intervals_received
    from assigned
    group by meter_id, local_date, tariff_name

)

select * from final
