{#-
    Incremental: the window starts `battery_lookback_hours` before the newest `evaluated_through` (the
    newest SoC point of the fleet when rows were last computed). Each SoC series is re-read from that
    window start, or from the start of its episodes that end inside the window (open or recovered
    after it), so such an episode is found whole again; those episodes are deleted and every episode
    found is written (strategy window without a unique key: a late point may split or merge episodes, so
    old keys can disappear). Points before the window never change (battery_telemetry re-reads the same
    lookback). A run that finds no episode in its window writes no row, so the next run starts from the
    same `evaluated_through`: correct, but it reads further back until some episode is found again.
-#}
{%- if is_incremental() -%}
    {%- set window_start = lookback_start(this, 'evaluated_through') -%}
{%- else -%}
    {%- set window_start = "'-infinity'::timestamptz" -%}
{%- endif -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='window',
        incremental_predicates=[
            "coalesce(DBT_INTERNAL_DEST.recovered_at, 'infinity'::timestamptz) >= "
            ~ lookback_start('__this__', 'evaluated_through')
        ],
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

reopened as (

    -- Per series, the first episode that ends inside the window: the series is re-read from its start.
    {% if is_incremental() %}
        select
            asset_id,
            metric,
            min(started_at) as started_at
        from {{ this }}
        where coalesce(recovered_at, 'infinity'::timestamptz) >= {{ window_start }}
        group by asset_id, metric
    {% else %}
        select
            null::text as asset_id,
            null::text as metric,
            null::timestamptz as started_at
        where false
    {% endif %}

),

read_from as (

    -- The earliest start over all series: the bound of the index range on measured_at.
    select least({{ window_start }}, min(started_at)) as measured_at
    from reopened

),

soc_points as (

    select
        points.asset_id,
        points.metric,
        points.measured_at,
        points.value as soc_pct
    from {{ ref('battery_telemetry') }} as points
    inner join soc_series
        on
            points.asset_id = soc_series.asset_id
            and points.metric = soc_series.metric
    left join reopened
        on
            points.asset_id = reopened.asset_id
            and points.metric = reopened.metric
    where
        -- The earliest start over all series bounds the index range; then each series' own start.
        points.measured_at >= (select read_from.measured_at from read_from)
        and points.measured_at >= least({{ window_start }}, reopened.started_at)

),

episodes as (

    {{ low_soc_episodes('soc_points', var('battery_low_soc_pct'), partition_by=['asset_id', 'metric']) }}

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
        {{ var('battery_low_soc_pct') }}::double precision as threshold_pct,
        (select max(soc_points.measured_at) from soc_points) as evaluated_through
    from episodes
    -- An episode ending before the window (found only because a series was re-read from earlier) is
    -- already held and was not deleted.
    where coalesce(recovered_at, 'infinity'::timestamptz) >= {{ window_start }}

)

select * from final
