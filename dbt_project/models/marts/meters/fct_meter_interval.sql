{#-
    One row per meter and 15-minute interval (interval start, UTC): imported and exported active energy,
    from the plausible readings only: 0 <= kWh <= var meter_max_power_kw x the interval's hours x (1 +
    plausible_power_margin) (docs/domain.md, "15-minute intervals"); the others are counted, not summed.
    Incremental: a run recomputes every interval that received a reading (new, late or corrected) in the
    loads it has not taken in (macro loads_to_take_in), from all the interval's readings, so a late export
    reading completes an interval whose import arrived earlier.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['meter_id', 'interval_start'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

readings as (

    select
        *,
        -- Import and export are each one direction's energy: never negative, and at most the meter's
        -- largest power over the interval.
        coalesce(
            value >= 0
            and value <= {{ var('meter_max_power_kw') }} * interval_minutes / 60.0
            * (1 + {{ var('plausible_power_margin') }}),
            false
        ) as is_plausible
    from {{ ref('int_meters__readings') }}
    where
        quantity = 'active_energy'
        and interval_minutes = 15
        and direction in ('import', 'export')

),

changed as (

    select
        readings.meter_id,
        readings.measured_at,
        max(readings.loaded_at) as loaded_at
    from readings
    where {{ loads_to_take_in('meters', 'readings.loaded_at') }}
    group by readings.meter_id, readings.measured_at

),

intervals as (

    select
        readings.meter_id,
        max(readings.tenant_id) as tenant_id,
        readings.measured_at as interval_start,
        sum(readings.value) filter (
            where readings.direction = 'import' and readings.is_plausible
        ) as import_kwh,
        sum(readings.value) filter (
            where readings.direction = 'export' and readings.is_plausible
        ) as export_kwh,
        count(*) filter (where not readings.is_plausible) as n_readings_implausible,
        case
            when count(distinct readings.quality) > 1 then 'mixed'
            else max(readings.quality)
        end as quality,
        max(changed.loaded_at) as loaded_at
    from readings
    inner join changed
        on
            readings.meter_id = changed.meter_id
            and readings.measured_at = changed.measured_at
    group by readings.meter_id, readings.measured_at

),

final as (

    select
        meter_id::text as meter_id,
        tenant_id::text as tenant_id,
        interval_start::timestamptz as interval_start,
        (interval_start + interval '15 minutes')::timestamptz as interval_end,
        import_kwh::double precision as import_kwh,
        export_kwh::double precision as export_kwh,
        n_readings_implausible::bigint as n_readings_implausible,
        quality::text as quality,
        loaded_at::timestamptz as loaded_at
    from intervals

)

select * from final
