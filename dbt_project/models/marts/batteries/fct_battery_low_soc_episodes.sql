{#-
    Incremental per SoC series (delete+insert on asset_id, metric: a late point may split or merge
    episodes, so a series' episodes are replaced together). For each series with points in the loads this
    model has not taken in, the series is re-read from the start of its last held episode that began at
    or before the first new point (so an episode the point may extend is found whole again), or from that
    point; the episodes found there replace the held ones from then on, and the held episodes before it
    are written back unchanged. Other series are not touched.
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

with

soc_series as (

    select
        asset_id,
        metric
    from {{ ref('dim_battery_series') }}
    where quantity = 'StateOfCharge' and unit = '%'

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
            touched.first_at,
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
    inner join soc_series
        on
            touched.asset_id = soc_series.asset_id
            and touched.metric = soc_series.metric

),

points as (

    {{ rows_in_ranges(ref('battery_telemetry'), 'ranges', ['asset_id', 'metric'], 'measured_at') }}

),

soc_points as (

    select
        asset_id,
        metric,
        measured_at,
        value as soc_pct
    from points

),

found as (

    {{ low_soc_episodes('soc_points', var('battery_low_soc_pct'), partition_by=['asset_id', 'metric']) }}

),

recomputed as (

    select
        found.asset_id,
        found.metric,
        found.started_at,
        found.last_low_at,
        found.recovered_at,
        found.is_open,
        found.min_soc_pct,
        found.low_points,
        {{ var('battery_low_soc_pct') }}::double precision as threshold_pct,
        (
            select max(soc_points.measured_at)
            from soc_points
            where soc_points.asset_id = found.asset_id and soc_points.metric = found.metric
        ) as evaluated_through,
        ranges.loaded_at
    from found
    inner join ranges
        on
            found.asset_id = ranges.asset_id
            and found.metric = ranges.metric

),

kept as (

    -- The series' episodes before the re-read: written back, since the whole series is replaced.
    {% if builds_on_held_rows() %}
        select
            held.asset_id,
            held.metric,
            held.started_at,
            held.last_low_at,
            held.recovered_at,
            held.is_open,
            held.min_soc_pct,
            held.low_points,
            held.threshold_pct,
            held.evaluated_through,
            held.loaded_at
        from held
        inner join ranges
            on
                held.asset_id = ranges.asset_id
                and held.metric = ranges.metric
                and held.started_at < ranges.read_from
    {% else %}
        select
            recomputed.asset_id,
            recomputed.metric,
            recomputed.started_at,
            recomputed.last_low_at,
            recomputed.recovered_at,
            recomputed.is_open,
            recomputed.min_soc_pct,
            recomputed.low_points,
            recomputed.threshold_pct,
            recomputed.evaluated_through,
            recomputed.loaded_at
        from recomputed
        where false
    {% endif %}

),

final as (

    select
        asset_id,
        metric,
        started_at,
        last_low_at,
        recovered_at,
        is_open,
        min_soc_pct,
        low_points,
        threshold_pct,
        evaluated_through,
        loaded_at
    from recomputed
    union all
    select
        asset_id,
        metric,
        started_at,
        last_low_at,
        recovered_at,
        is_open,
        min_soc_pct,
        low_points,
        threshold_pct,
        evaluated_through,
        loaded_at
    from kept

)

select * from final
