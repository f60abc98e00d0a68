{#-
    One row per circuit and UTC hour with at least one sample or held power: time-weighted energy (kWh) and
    mean power (W) over the covered time, samples received and coverage (share of the hour with held power).
    Integration: macros/energy/held_power.sql (last value carried forward, gaps > var('max_gap_seconds')
    contribute nothing). A hold that crosses the hour boundary is split between the two hours.
    Incremental: takes in the loads that ended since the newest loaded_at it holds (macro
    loads_to_take_in, looked up when the model compiles; a load still running waits for the next build)
    and recomputes every hour from the one var('max_gap_seconds') before their earliest sample (a late
    file of any age; the hold of the sample before it may now end at it), reading max_gap_seconds further
    back so a hold into that hour is counted. The bounds are literals, so the planner reads the samples
    through the raw key instead of the whole table, and only that window goes through the window
    functions: an incremental run costs the new hours, not the history (docs/scaling.md).
-#}
{{
    config(
        materialized='incremental',
        unique_key=['circuit_id', 'hour_start'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}
{%- set max_gap = var('max_gap_seconds') %}
{%- set loads = loads_to_take_in('circuits', ref('stg_circuits__power'), 'measured_at') %}
{#- The first hour to recompute: the one max_gap before the earliest new sample (null: nothing new). -#}
{%- set recompute_from = "date_trunc('hour', " ~ loads.first ~ " - interval '" ~ max_gap ~ " seconds')" %}

with

power as (

    select * from {{ ref('int_circuits__power') }}

),

samples as (

    -- Every sample of the loads that have ended (a full build), or those from max_gap before the first
    -- hour to recompute, found through the raw key: an ISO time's local date is within a day of its UTC
    -- date, so the text bound a day earlier keeps every wanted row and lets the index skip the older ones.
    select power.*
    from power
    where
        power.loaded_at < {{ loads.ended_before }}
        {% if is_incremental() %}
            and power.timestamp_iso >= to_char(
                ({{ recompute_from }} - interval '{{ max_gap }} seconds') at time zone 'UTC' - interval '1 day',
                'YYYY-MM-DD'
            )
            and power.measured_at >= {{ recompute_from }} - interval '{{ max_gap }} seconds'
        {% endif %}

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
        count(*) as samples,
        max(loaded_at) as loaded_at
    from samples
    group by circuit_id, date_trunc('hour', measured_at)

),

combined as (

    select
        coalesce(energy.circuit_id, counted.circuit_id) as circuit_id,
        coalesce(energy.hour_start, counted.hour_start) as hour_start,
        coalesce(energy.energy_wh, 0) as energy_wh,
        coalesce(energy.covered_seconds, 0) as covered_seconds,
        coalesce(counted.samples, 0) as samples,
        counted.loaded_at
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
        coalesce(combined.loaded_at, (select max(samples.loaded_at) from samples))::timestamptz as loaded_at
    from combined
    inner join circuits
        on combined.circuit_id = circuits.circuit_id
    {% if is_incremental() %}
        where combined.hour_start >= {{ recompute_from }}
    {% endif %}

)

select * from final
