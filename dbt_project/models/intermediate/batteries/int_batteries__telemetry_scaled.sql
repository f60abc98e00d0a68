{#-
    The storage behind marts.battery_telemetry (a view that reads value back with scaled_value): every
    battery point with its value as a scaled integer, `value_scaled` = value x 10^`value_decimals`, the
    decimals of its unit (var battery_value_decimals: kWh 2, W 0, % and °C 1, other units 3), and
    `value_exact`, the value itself where the integer does not reproduce it bit for bit, else null
    (macros/timescale/scaled_values.sql): lossless, and on TimescaleDB smaller compressed than the double
    (delta-of-delta + simple-8b instead of Gorilla XOR; figures in docs/scaling.md, section 5).

    Incremental: a run reads the loads that ended since the newest load it holds (the load log,
    ingest/loads.py; `loaded_at` is the load's stamp), so a run with nothing new reads nothing and late
    points of any age land (battery_load_bounds, looked up when the model compiles). Only points that
    are new or changed are written; the anti-join and the delete of replaced points are bounded by the
    earliest point the new loads bring (incremental_predicates: `__source_min__measured_at` is taken
    from the rows being written), so nothing scans the history. Storage: on TimescaleDB a compressed
    hypertable (time_series_storage; unit and decimals are constant per series, so they are segmentby
    columns too and cost nothing per point; loaded_at is constant over long runs); on plain PostgreSQL
    a btree on measured_at (the windows, the newest point) and one on (asset_id, metric) (one series'
    history), both deduplicated, far smaller than a unique (asset_id, metric, measured_at) btree
    (docs/scaling.md, section 5).
-#}
{%- set bounds = battery_load_bounds() -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='window',
        unique_key=['asset_id', 'metric', 'measured_at'],
        incremental_predicates=["DBT_INTERNAL_DEST.measured_at >= __source_min__measured_at"],
        on_schema_change='fail',
        post_hook=[
            "{% if timescale_enabled() %}{{ time_series_storage(
                this,
                time_column='measured_at',
                segment_by=['asset_id', 'metric', 'unit', 'value_decimals'],
                chunk_interval=var('battery_chunk_interval'),
                compress_after=var('battery_compress_after'),
                unique_key=['asset_id', 'metric', 'measured_at'],
            ) }}{% else %}{{ ensure_index(this, ['measured_at']) }}
            {{ ensure_index(this, ['asset_id', 'metric']) }}{% endif %}",
        ],
    )
}}

with

telemetry as (

    select * from {{ ref('stg_batteries__telemetry') }}

),

points as (

    select
        -- Cast to the contract's types: staging's varchar would look like a schema change on re-runs.
        asset_id::text as asset_id,
        metric::text as metric,
        unit::text as unit,
        {{ decimals_for('unit', var('battery_value_decimals')) }} as value_decimals,
        measured_at,
        value,
        loaded_at
    from telemetry
    -- Loads that have ended (a load still running waits for the next build) and, on an incremental run,
    -- ended after the newest load held; the earliest point they bring bounds the raw key too.
    where
        loaded_at < {{ bounds.ended_before }}
        {% if is_incremental() %}
            and loaded_at > {{ bounds.built_through }}
            and epoch_ms >= {{ bounds.first_epoch_ms }}
        {% endif %}

),

scaled as (

    select
        asset_id,
        metric,
        unit,
        value_decimals,
        measured_at,
        {{ scaled_integer('value', 'value_decimals') }} as value_scaled,
        {{ scaled_remainder('value', 'value_decimals') }} as value_exact,
        loaded_at
    from points

),

changed as (

    -- A point already held as the same unit and stored value is not written again: a re-run changes nothing.
    -- The series is compared with `is not distinct from` (the columns are not null: the same test as `=`),
    -- which no index serves: the raw table's statistics do not know the newest loads yet, so the planner
    -- may probe once per new point, and it must probe the measured_at index (a few points per instant),
    -- never the series index (the whole series each time).
    select scaled.*
    from scaled
    {% if is_incremental() %}
        where not exists (
                select 1
                from {{ this }} as held
                where
                    held.measured_at >= {{ bounds.first }}
                    and held.measured_at = scaled.measured_at
                    and held.asset_id is not distinct from scaled.asset_id
                    and held.metric is not distinct from scaled.metric
                    and held.unit = scaled.unit
                    and held.value_decimals = scaled.value_decimals
                    and held.value_scaled is not distinct from scaled.value_scaled
                    and held.value_exact is not distinct from scaled.value_exact
            )
    {% endif %}

),

final as (

    select * from changed

)

select * from final
