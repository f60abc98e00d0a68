{% macro battery_day_ranges() -%}
    {#-
        SQL select for the per-UTC-day battery models whose days depend on the step into their first point
        (fct_battery_daily, int_batteries__health_steps_daily), one row per battery that the loads the model
        has not taken in touched. A new or corrected point changes the steps into it and out of it, so a
        battery's days to recompute run from the day of its first new point to the day of the point that
        follows its last new one in the same series (first_day, last_day), and the battery is read from the
        earliest of its series' last points before first_day (the step into first_day's first point,
        however long the gap) through last_day (read_from, read_until): one time range per battery, which
        the storage's measured_at index serves.
    -#}
    {%- set points = ref('int_batteries__telemetry_scaled') -%}
    select
        days.asset_id,
        days.first_day,
        days.last_day,
        min(coalesce(
            (
                select max(previous.measured_at)
                from {{ points }} as previous
                where
                    previous.asset_id = series.asset_id
                    and previous.metric = series.metric
                    and previous.measured_at < days.first_day::timestamp at time zone 'UTC'
            ),
            days.first_day::timestamp at time zone 'UTC'
        )) as read_from,
        (days.last_day + 1)::timestamp at time zone 'UTC' as read_until,
        days.loaded_at
    from (
        select
            touched.asset_id,
            (min(touched.first_at) at time zone 'UTC')::date as first_day,
            (max(touched.until_at) at time zone 'UTC')::date as last_day,
            max(touched.loaded_at) as loaded_at
        from (
            select
                new_points.*,
                coalesce(
                    (
                        select min(following.measured_at)
                        from {{ points }} as following
                        where
                            following.asset_id = new_points.asset_id
                            and following.metric = new_points.metric
                            and following.measured_at > new_points.last_at
                    ),
                    new_points.last_at
                ) as until_at
            from ({{ touched_ranges(points, 'batteries', ['asset_id', 'metric'], 'measured_at') }}) as new_points
        ) as touched
        group by touched.asset_id
    ) as days
    inner join {{ ref('dim_battery_series') }} as series
        on days.asset_id = series.asset_id
    group by days.asset_id, days.first_day, days.last_day, days.loaded_at
{%- endmacro %}
