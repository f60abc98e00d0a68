{#-
    Incremental: a run re-reads staging from `battery_lookback_hours` before the newest point held (late
    data), bounded on the raw epoch_ms so the raw table's index prunes, and replaces only points that are
    new or changed. The delete of the replaced points is bounded by the same window
    (incremental_predicates), so nothing scans the history. Storage: on TimescaleDB a compressed
    hypertable (time_series_storage); on plain PostgreSQL a btree on measured_at (the windows, the newest
    point) and one on (asset_id, metric) (one series' history), both deduplicated: a unique
    (asset_id, metric, measured_at) btree would be 85 % of the table (docs/scaling.md).
-#}
{%- set window_start = lookback_start(this, 'measured_at') -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='window',
        unique_key=['asset_id', 'metric', 'measured_at'],
        incremental_predicates=["DBT_INTERNAL_DEST.measured_at >= " ~ lookback_start('__this__', 'measured_at')],
        on_schema_change='fail',
        post_hook=[
            "{% if timescale_enabled() %}{{ time_series_storage(
                this,
                time_column='measured_at',
                segment_by=['asset_id', 'metric'],
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
        measured_at,
        value
    from telemetry
    {% if is_incremental() %}
        -- Late data: re-read everything from the lookback window before the newest point already held.
        where epoch_ms >= {{ epoch_ms_from(window_start) }}
    {% endif %}

),

changed as (

    -- A point already held with the same unit and value is not written again: a re-run changes nothing.
    select points.*
    from points
    {% if is_incremental() %}
        where not exists (
                select 1
                from {{ this }} as held
                where
                    held.measured_at >= {{ window_start }}
                    and held.asset_id = points.asset_id
                    and held.metric = points.metric
                    and held.measured_at = points.measured_at
                    and held.unit = points.unit
                    and held.value = points.value
            )
    {% endif %}

),

final as (

    select * from changed

)

select * from final
