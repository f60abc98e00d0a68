{#-
    One row per circuit and UTC hour with at least one sample or held power: time-weighted energy (kWh) and
    mean power (W) over the covered time, samples received and coverage (share of the hour with held power).
    Integration: macros/energy/held_power.sql (last value carried forward, gaps > var('max_gap_seconds')
    contribute nothing). A hold that crosses the hour boundary is split between the two hours.
    Incremental: per circuit, the hours from the one max_gap_seconds before the first sample of the loads it
    has not taken in to the one max_gap_seconds after the last (a new or corrected sample changes the hold
    of the sample before it, and its own hold may reach into the next hour) are recomputed, reading the
    samples from max_gap_seconds earlier (holds into the first hour) to max_gap_seconds later (the sample
    that ends the last hold); delete+insert on (circuit_id, hour_start). Indexed on the key (the delete, and a
    circuit's window in gridhouse usage / the API) and on (organization_id, hour_start) (an organisation's).
-#}
{{
    config(
        materialized='incremental',
        unique_key=['circuit_id', 'hour_start'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['circuit_id', 'hour_start'], 'unique': True},
            {'columns': ['organization_id', 'hour_start']},
        ],
    )
}}
{%- set max_gap = "interval '" ~ var('max_gap_seconds') ~ " seconds'" %}

with

touched as (

    {{ touched_ranges(
        ref('int_circuits__power'), 'circuits', ['circuit_id', 'duid', 'circuit_number'], 'measured_at'
    ) }}

),

recomputed_hours as (

    select
        circuit_id,
        duid,
        circuit_number,
        date_trunc('hour', first_at - {{ max_gap }}) as first_hour,
        date_trunc('hour', last_at + {{ max_gap }}) + interval '1 hour' as end_hour,
        loaded_at
    from touched

),

ranges as (

    -- By the vendor's key (duid, circuit_number): a read of one circuit's range is then one range of the
    -- raw key.
    select
        duid,
        circuit_number,
        first_hour - {{ max_gap }} as read_from,
        end_hour + {{ max_gap }} as read_until,
        loaded_at
    from recomputed_hours

),

samples as (

    {{ rows_in_ranges(ref('int_circuits__power'), 'ranges', ['duid', 'circuit_number'], 'measured_at') }}

),

holds as (

    {{ power_holds('samples', ['circuit_id']) }}

),

pieces as (

    -- A hold is at most max_gap_seconds long, so it touches its own hour and at most the next one.
    select
        holds.circuit_id,
        hours.hour_start,
        {{ hold_wh_within('hours.hour_start', "hours.hour_start + interval '1 hour'") }} as energy_wh,
        {{ hold_seconds_within('hours.hour_start', "hours.hour_start + interval '1 hour'") }}
            as covered_seconds
    from holds
    cross join
        lateral (
            values
            (date_trunc('hour', holds.held_from)),
            (date_trunc('hour', holds.held_from) + interval '1 hour')
        ) as hours (hour_start)
    where
        holds.held_until is not null
        and holds.held_until > hours.hour_start

),

energy as (

    select
        circuit_id,
        hour_start,
        sum(energy_wh) as energy_wh,
        sum(covered_seconds) as covered_seconds
    from pieces
    where covered_seconds > 0
    group by circuit_id, hour_start

),

counted as (

    select
        circuit_id,
        date_trunc('hour', measured_at) as hour_start,
        count(*) as samples
    from samples
    group by circuit_id, date_trunc('hour', measured_at)

),

combined as (

    select
        coalesce(energy.circuit_id, counted.circuit_id) as circuit_id,
        coalesce(energy.hour_start, counted.hour_start) as hour_start,
        coalesce(energy.energy_wh, 0) as energy_wh,
        coalesce(energy.covered_seconds, 0) as covered_seconds,
        coalesce(counted.samples, 0) as samples
    from energy
    full outer join counted
        on
            energy.circuit_id = counted.circuit_id
            and energy.hour_start = counted.hour_start

),

circuits as (

    select * from {{ ref('dim_circuits') }}

),

final as (

    select
        combined.circuit_id::text as circuit_id,
        circuits.sensor_id::text as sensor_id,
        circuits.circuit_number::integer as circuit_number,
        circuits.organization_id::text as organization_id,
        combined.hour_start::timestamptz as hour_start,
        (combined.energy_wh / 1000.0)::double precision as energy_kwh,
        (combined.energy_wh * 3600.0 / nullif(combined.covered_seconds, 0))::double precision as mean_power_w,
        combined.energy_wh::double precision as energy_wh,
        combined.covered_seconds::double precision as covered_seconds,
        (combined.covered_seconds / 3600.0)::double precision as coverage,
        combined.samples::integer as samples,
        recomputed_hours.loaded_at::timestamptz as loaded_at
    from combined
    -- Only the hours recomputed: those at the ends of the read were read in part.
    inner join recomputed_hours
        on
            combined.circuit_id = recomputed_hours.circuit_id
            and combined.hour_start >= recomputed_hours.first_hour
            and combined.hour_start < recomputed_hours.end_hour
    inner join circuits
        on combined.circuit_id = circuits.circuit_id

)

select * from final
