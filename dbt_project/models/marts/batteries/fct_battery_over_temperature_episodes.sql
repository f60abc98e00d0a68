{#-
    Over-temperature episodes with hysteresis, per temperature series. An episode opens at the first of
    `n` consecutive points above the asset's threshold (battery_specs.max_cell_temperature_c, else var
    battery_over_temperature_c) and closes at the first of `n` consecutive points below the threshold
    minus the band, so one noisy point neither opens nor closes one. The state at a point is that of the
    latest complete run of `n` hot or cool points before it, so episodes are found with window functions.

    Incremental per series (delete+insert on asset_id, metric), as fct_battery_low_soc_episodes: a series
    with new points is re-read from a point where its state is known to be closed: the start of its last
    held episode that began at or before the first new point, or the (n-1)-th point before the first new
    point if earlier (a run of hot points under way there has fewer than n points, or it would have
    opened that episode). The episodes found from there replace the held ones; earlier ones are kept.
-#}
{{
    config(
        materialized='incremental_in_place',
        incremental_strategy='delete+insert',
        unique_key=['asset_id', 'metric'],
        on_schema_change='fail',
        post_hook=["{{ ensure_index(this, ['asset_id', 'started_at desc']) }}"],
    )
}}
{%- set n = var('battery_over_temperature_points') | int -%}
{%- set band_c = var('battery_over_temperature_band_c') -%}

with

temperature_series as (

    select
        asset_id,
        metric
    from {{ ref('dim_battery_series') }}
    where quantity = 'BatteryTemperature' and unit = '°C'

),

specs as (

    select * from {{ ref('int_batteries__specs') }}

),

telemetry as (

    select * from {{ ref('battery_telemetry') }}

),

touched as (

    {{ touched_ranges(
        ref('int_batteries__telemetry_scaled'), 'batteries', ['asset_id', 'metric'], 'measured_at'
    ) }}

),

held as (

    {% if builds_on_held_rows() %}
        select * from {{ this }}
    {% else %}
        -- A first build holds no episode.
        select
            null::text as asset_id,
            null::text as metric,
            null::timestamptz as started_at
        where false
    {% endif %}

),

ranges as (

    select
        touched.asset_id,
        touched.metric,
        least(
            coalesce(
                (
                    -- the (n-1)-th point before the first new one (the first new one itself when n = 1)
                    select telemetry.measured_at
                    from telemetry
                    where
                        telemetry.asset_id = touched.asset_id
                        and telemetry.metric = touched.metric
                        and telemetry.measured_at < touched.first_at
                    order by telemetry.measured_at desc
                    limit
                        1
                        offset {{ [n - 2, 0] | max }}
                ),
                '-infinity'::timestamptz
            ),
            {% if n <= 1 %}touched.first_at,{% endif %}
            (
                select max(held.started_at)
                from held
                where
                    held.asset_id = touched.asset_id
                    and held.metric = touched.metric
                    and held.started_at <= touched.first_at
            )
        ) as read_from,
        'infinity'::timestamptz as read_until,
        touched.loaded_at
    from touched
    inner join temperature_series
        on
            touched.asset_id = temperature_series.asset_id
            and touched.metric = temperature_series.metric

),

points as (

    {{ rows_in_ranges(ref('battery_telemetry'), 'ranges', ['asset_id', 'metric'], 'measured_at') }}

),

thresholds as (

    select
        points.asset_id,
        points.metric,
        points.measured_at,
        points.value as temperature_c,
        points.range_loaded_at,
        coalesce(specs.max_cell_temperature_c, {{ var('battery_over_temperature_c') }})::double precision
            as threshold_c
    from points
    left join specs
        on points.asset_id = specs.asset_id

),

runs as (

    -- A point ends a complete hot run when it and the n-1 before it are all above the threshold, a
    -- complete cool run when they are all below the threshold minus the band.
    select
        *,
        count(*) filter (where temperature_c > threshold_c) over recent = {{ n }} as ends_hot_run,
        count(*) filter (where temperature_c < threshold_c - {{ band_c }}) over recent = {{ n }}
            as ends_cool_run,
        first_value(measured_at) over recent as run_started_at
    from thresholds
    window recent as (
        partition by asset_id, metric order by measured_at rows between {{ n - 1 }} preceding and current row
    )

),

signals as (

    select
        asset_id,
        metric,
        measured_at,
        run_started_at,
        ends_hot_run as opens,
        lag(ends_hot_run) over (partition by asset_id, metric order by measured_at) as was_open
    from runs
    where ends_hot_run or ends_cool_run

),

changes as (

    -- Only the signals that change the state: an open after a close (or first of all), a close after an
    -- open. The read starts where the state is closed.
    select
        asset_id,
        metric,
        opens,
        run_started_at as changed_at,
        measured_at as signalled_at,
        lead(run_started_at) over (partition by asset_id, metric order by measured_at) as next_changed_at
    from signals
    where opens is distinct from coalesce(was_open, false)

),

episodes as (

    select
        asset_id,
        metric,
        changed_at as started_at,
        next_changed_at as closed_at
    from changes
    where opens

),

marked as (

    -- Points and state changes in one ordered stream: a point belongs to an episode when an odd number
    -- of changes (open, close, open, ...) lies at or before it, the latest of them being its start.
    select
        asset_id,
        metric,
        measured_at,
        temperature_c,
        threshold_c,
        null::timestamptz as changed_at,
        1 as stream_order
    from thresholds
    union all
    select
        asset_id,
        metric,
        changed_at as measured_at,
        null::double precision as temperature_c,
        null::double precision as threshold_c,
        changed_at,
        0 as stream_order
    from changes

),

assigned as (

    select
        asset_id,
        metric,
        measured_at,
        temperature_c,
        threshold_c,
        stream_order,
        count(changed_at) over stream as changes_so_far,
        max(changed_at) over stream as started_at
    from marked
    window stream as (
        partition by asset_id, metric order by measured_at, stream_order rows unbounded preceding
    )

),

episode_points as (

    select
        asset_id,
        metric,
        started_at,
        max(measured_at) filter (where temperature_c > threshold_c) as last_hot_at,
        max(temperature_c) as max_temperature_c,
        count(*) filter (where temperature_c > threshold_c) as hot_points,
        max(threshold_c) as threshold_c
    from assigned
    where stream_order = 1 and changes_so_far % 2 = 1
    group by asset_id, metric, started_at

),

series_ends as (

    select
        asset_id,
        metric,
        max(measured_at) as evaluated_through
    from thresholds
    group by asset_id, metric

),

recomputed as (

    select
        episodes.asset_id,
        episodes.metric,
        episodes.started_at,
        episode_points.last_hot_at,
        episodes.closed_at,
        episodes.closed_at is null as is_open,
        episode_points.max_temperature_c,
        episode_points.hot_points,
        episode_points.threshold_c,
        series_ends.evaluated_through,
        ranges.loaded_at
    from episodes
    inner join episode_points
        on
            episodes.asset_id = episode_points.asset_id
            and episodes.metric = episode_points.metric
            and episodes.started_at = episode_points.started_at
    inner join series_ends
        on
            episodes.asset_id = series_ends.asset_id
            and episodes.metric = series_ends.metric
    inner join ranges
        on
            episodes.asset_id = ranges.asset_id
            and episodes.metric = ranges.metric

),

kept as (

    -- The series' episodes before the re-read: written back, since the whole series is replaced.
    {% if builds_on_held_rows() %}
        select
            held.asset_id,
            held.metric,
            held.started_at,
            held.last_hot_at,
            held.closed_at,
            held.is_open,
            held.max_temperature_c,
            held.hot_points,
            held.threshold_c,
            held.evaluated_through,
            held.loaded_at
        from held
        inner join ranges
            on
                held.asset_id = ranges.asset_id
                and held.metric = ranges.metric
                and held.started_at < ranges.read_from
    {% else %}
        select * from recomputed
        where false
    {% endif %}

),

final as (

    select
        asset_id,
        metric,
        started_at,
        last_hot_at,
        closed_at,
        is_open,
        max_temperature_c,
        hot_points,
        threshold_c,
        evaluated_through,
        loaded_at
    from recomputed
    union all
    select
        asset_id,
        metric,
        started_at,
        last_hot_at,
        closed_at,
        is_open,
        max_temperature_c,
        hot_points,
        threshold_c,
        evaluated_through,
        loaded_at
    from kept

)

select * from final
