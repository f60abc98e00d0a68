{#-
    The home energy summary at four grains in one relation: grain = hour (UTC hours, from the hourly
    tier), day and week (local days of the home's time zone and ISO weeks starting Monday, from the daily
    tier) and month (local calendar months, from the monthly tier). Each row: produced, consumed, net
    (produced - consumed) and solar energy in kWh, and the storage state at the end of the period
    (battery_storage_pct, ev_charge_pct). How far back each grain reaches follows the retention tiers.
-#}
{{ config(materialized='view_in_place') }}

with

hours as (

    select * from {{ ref('int_devices__home_hours') }}

),

days as (

    select * from {{ ref('fct_home_energy_daily') }}

),

months as (

    select * from {{ ref('fct_home_energy_monthly') }}

),

weeks as (

    select
        home_id,
        date_trunc('week', local_date)::date as local_week,
        max(time_zone) as time_zone,
        {{ sum_in_order('produced_kwh', 'local_date') }} as produced_kwh,
        {{ sum_in_order('consumed_kwh', 'local_date') }} as consumed_kwh,
        {{ sum_in_order('net_kwh', 'local_date') }} as net_kwh,
        {{ sum_in_order('solar_kwh', 'local_date') }} as solar_kwh,
        {{ last_non_null('battery_storage_pct', 'local_date') }} as battery_storage_pct,
        {{ last_non_null('ev_charge_pct', 'local_date') }} as ev_charge_pct
    from days
    group by home_id, date_trunc('week', local_date)::date

),

unioned as (

    select
        home_id,
        'hour' as grain,
        hour_start as period_start,
        hour_start + interval '1 hour' as period_end,
        ({{ to_local('hour_start', 'time_zone') }})::date as local_date,
        time_zone,
        produced_kwh,
        consumed_kwh,
        net_kwh,
        solar_kwh,
        battery_storage_pct,
        ev_charge_pct
    from hours

    union all

    select
        home_id,
        'day' as grain,
        day_start as period_start,
        ({{ from_local('(local_date + 1)::' ~ sqltype('timestamp'), 'time_zone') }}) as period_end,
        local_date,
        time_zone,
        produced_kwh,
        consumed_kwh,
        net_kwh,
        solar_kwh,
        battery_storage_pct,
        ev_charge_pct
    from days

    union all

    select
        home_id,
        'week' as grain,
        ({{ from_local('local_week::' ~ sqltype('timestamp'), 'time_zone') }}) as period_start,
        ({{ from_local('(local_week + 7)::' ~ sqltype('timestamp'), 'time_zone') }}) as period_end,
        local_week as local_date,
        time_zone,
        produced_kwh,
        consumed_kwh,
        net_kwh,
        solar_kwh,
        battery_storage_pct,
        ev_charge_pct
    from weeks

    union all

    select
        home_id,
        'month' as grain,
        month_start as period_start,
        (
            {{ from_local("(local_month + interval '1 month')::" ~ sqltype('timestamp'), 'time_zone') }}
        ) as period_end,
        local_month as local_date,
        time_zone,
        produced_kwh,
        consumed_kwh,
        net_kwh,
        solar_kwh,
        battery_storage_pct,
        ev_charge_pct
    from months

),

final as (

    select
        home_id::{{ sqltype('text') }} as home_id,
        grain::{{ sqltype('text') }} as grain,
        period_start::{{ sqltype('timestamptz') }} as period_start,
        period_end::{{ sqltype('timestamptz') }} as period_end,
        local_date::date as local_date,
        time_zone::{{ sqltype('text') }} as time_zone,
        produced_kwh::{{ sqltype('double precision') }} as produced_kwh,
        consumed_kwh::{{ sqltype('double precision') }} as consumed_kwh,
        net_kwh::{{ sqltype('double precision') }} as net_kwh,
        solar_kwh::{{ sqltype('double precision') }} as solar_kwh,
        battery_storage_pct::{{ sqltype('double precision') }} as battery_storage_pct,
        ev_charge_pct::{{ sqltype('double precision') }} as ev_charge_pct
    from unioned

)

select * from final
