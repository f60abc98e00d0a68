{#-
    The storage behind marts.battery_telemetry (a view that reads value back with scaled_value): every
    battery point with its value as a scaled integer, `value_scaled` = value x 10^`value_decimals`, the
    decimals of its unit (var battery_value_decimals: kWh 2, W 0, % and °C 1, other units 3), and
    `value_exact`, the value itself where the integer does not reproduce it bit for bit, else null
    (macros/timescale/scaled_values.sql): lossless, and on TimescaleDB 2.5x smaller compressed than the
    double (delta-of-delta + simple-8b instead of Gorilla XOR, docs/scaling.md).

    Incremental: a run re-reads staging from `battery_lookback_hours` before the newest point held (late
    data), bounded on the raw epoch_ms so the raw table's index prunes, and replaces only points that are
    new or changed. The delete of the replaced points is bounded by the same window
    (incremental_predicates), so nothing scans the history. Storage: on TimescaleDB a compressed
    hypertable (time_series_storage; unit and decimals are constant per series, so they are segmentby
    columns too and cost nothing per point); on plain PostgreSQL a btree on measured_at (the windows, the
    newest point) and one on (asset_id, metric) (one series' history), both deduplicated: a unique
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
        value
    from telemetry
    {% if is_incremental() %}
        -- Late data: re-read everything from the lookback window before the newest point already held.
        where epoch_ms >= {{ epoch_ms_from(window_start) }}
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
        {{ scaled_remainder('value', 'value_decimals') }} as value_exact
    from points

),

changed as (

    -- A point already held as the same unit and stored value is not written again: a re-run changes nothing.
    select scaled.*
    from scaled
    {% if is_incremental() %}
        where not exists (
                select 1
                from {{ this }} as held
                where
                    held.measured_at >= {{ window_start }}
                    and held.asset_id = scaled.asset_id
                    and held.metric = scaled.metric
                    and held.measured_at = scaled.measured_at
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
