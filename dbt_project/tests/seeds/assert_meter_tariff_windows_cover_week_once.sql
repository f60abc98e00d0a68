-- For every validity start of seeds/tariff_windows.csv, each quarter-hour of the week falls in exactly
-- one window valid on that date. Returns the quarter-hours covered zero or several times.
with

windows as (

    {{ tariff_windows() }}

),

periods as (

    select distinct valid_from as period_start
    from windows

),

slots as (

    select
        periods.period_start,
        iso_weekday,
        make_time(quarter_hour / 4, (quarter_hour % 4) * 15, 0) as local_time
    from periods
    cross join generate_series(1, 7) as iso_weekday
    cross join generate_series(0, 95) as quarter_hour

),

coverage as (

    select
        slots.period_start,
        slots.iso_weekday,
        slots.local_time,
        count(windows.tariff_name) as windows_matching
    from slots
    left join windows
        on
            slots.iso_weekday = any(windows.weekdays)
            and slots.local_time >= windows.local_start
            and slots.local_time < windows.local_end
            and slots.period_start between windows.valid_from and windows.valid_to
    group by slots.period_start, slots.iso_weekday, slots.local_time

)

select *
from coverage
where windows_matching <> 1
