{#-
    The storage behind marts.battery_telemetry (a view that reads value back with scaled_value): every
    battery point with its value as a scaled integer, `value_scaled` = value x 10^`value_decimals`, the
    decimals of its unit (var battery_value_decimals: kWh 2, W 0, % and °C 1, other units 3), and
    `value_exact`, the value itself where the integer does not reproduce it bit for bit, else null
    (macros/timescale/scaled_values.sql): lossless, and on TimescaleDB smaller compressed than the double
    (delta-of-delta + simple-8b instead of Gorilla XOR; figures in docs/scaling.md, section 5).

    Incremental (macro loads_to_take_in): a run takes the points of the loads it has not taken in yet and
    writes them over the points held at the same (asset_id, metric, measured_at) with dbt's delete+insert,
    so a vendor correction replaces the value and late points of any age land.

    Storage: on TimescaleDB a compressed hypertable (time_series_storage; unit and decimals are constant
    per series, so they are segmentby columns too and cost nothing per point); on plain PostgreSQL btrees
    on measured_at (the windows, the newest point), on (asset_id, metric) (one series' history) and on
    loaded_at (what later models have still to take in), all deduplicated, far smaller than a unique
    (asset_id, metric, measured_at) btree (docs/scaling.md, section 5).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['asset_id', 'metric', 'measured_at'],
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
            {{ ensure_index(this, ['asset_id', 'metric']) }}
            {{ ensure_index(this, ['loaded_at']) }}{% endif %}",
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
    where {{ loads_to_take_in('batteries') }}

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

final as (

    select * from scaled

)

select * from final
