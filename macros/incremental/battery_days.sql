{% macro battery_day_ranges() -%}
    {#-
        SQL select for the per-UTC-day battery models built on the counter rule (fct_battery_daily,
        int_batteries__health_steps_daily), one row per battery that the loads the model has not taken in
        touched. The label of the step into point i reads points i-2 .. i+1 (macro counter_steps), so a new or
        corrected point k changes the steps into k-1 .. k+2: a battery's days to recompute (first_day,
        last_day) run from the day of the point before its first new point to the day of the second point
        after its last new one, per series. A power reading also changes its day's power limit
        (int_batteries__counter_limits), which the steps reaching into that day read: for power series the
        days run from the day before the first new reading to the day after the last. Each series is read
        from its third point before first_day through its first point after last_day (read_from,
        read_until: one time range per battery, served by the storage's measured_at index), so every step
        of the recomputed days sees its whole window, however long the gaps.
    -#}
    {%- set points = ref('int_batteries__telemetry_scaled') -%}
    select
        days.asset_id,
        days.first_day,
        days.last_day,
        min(coalesce(
            (
                select min(earlier.measured_at)
                from (
                    select previous.measured_at
                    from {{ points }} as previous
                    where
                        previous.asset_id = series.asset_id
                        and previous.metric = series.metric
                        and previous.measured_at < days.first_day::timestamp at time zone 'UTC'
                    order by previous.measured_at desc
                    limit 3
                ) as earlier
            ),
            days.first_day::timestamp at time zone 'UTC'
        )) as read_from,
        max(coalesce(
            (
                select min(following.measured_at) + interval '1 microsecond'
                from {{ points }} as following
                where
                    following.asset_id = series.asset_id
                    and following.metric = series.metric
                    and following.measured_at >= (days.last_day + 1)::timestamp at time zone 'UTC'
            ),
            (days.last_day + 1)::timestamp at time zone 'UTC'
        )) as read_until,
        days.loaded_at
    from (
        select
            touched.asset_id,
            min(
                case
                    when touched.unit = 'W' then (touched.first_at at time zone 'UTC')::date - 1
                    else (touched.from_at at time zone 'UTC')::date
                end
            ) as first_day,
            max(
                case
                    when touched.unit = 'W' then (touched.last_at at time zone 'UTC')::date + 1
                    else (touched.until_at at time zone 'UTC')::date
                end
            ) as last_day,
            max(touched.loaded_at) as loaded_at
        from (
            select
                new_points.*,
                coalesce(
                    (
                        select max(previous.measured_at)
                        from {{ points }} as previous
                        where
                            previous.asset_id = new_points.asset_id
                            and previous.metric = new_points.metric
                            and previous.measured_at < new_points.first_at
                    ),
                    new_points.first_at
                ) as from_at,
                coalesce(
                    (
                        select max(later.measured_at)
                        from (
                            select following.measured_at
                            from {{ points }} as following
                            where
                                following.asset_id = new_points.asset_id
                                and following.metric = new_points.metric
                                and following.measured_at > new_points.last_at
                            order by following.measured_at
                            limit 2
                        ) as later
                    ),
                    new_points.last_at
                ) as until_at
            from (
                {{ touched_ranges(points, 'batteries', ['asset_id', 'metric', 'unit'], 'measured_at') }}
            ) as new_points
        ) as touched
        group by touched.asset_id
    ) as days
    inner join {{ ref('dim_battery_series') }} as series
        on days.asset_id = series.asset_id
    group by days.asset_id, days.first_day, days.last_day, days.loaded_at
{%- endmacro %}
