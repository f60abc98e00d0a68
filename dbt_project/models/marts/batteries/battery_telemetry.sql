{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['asset_id', 'metric', 'measured_at'],
        on_schema_change='fail',
        post_hook=[
            "{{ time_series_storage(
                this,
                time_column='measured_at',
                segment_by=['asset_id', 'metric'],
                chunk_interval=var('battery_chunk_interval'),
                compress_after=var('battery_compress_after'),
                unique_key=['asset_id', 'metric', 'measured_at'],
            ) }}",
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
        where measured_at >= (
                select coalesce(max(held.measured_at), '-infinity'::timestamptz)
                from {{ this }} as held
            ) - interval '{{ var("battery_lookback_hours") }} hours'
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
                    held.asset_id = points.asset_id
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
