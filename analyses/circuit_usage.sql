{#-
    Total usage of one circuit in the window [from, to) (seed 002's first question), as energy (kWh) and
    mean power over the window (W), with the ids and names that link back to the metadata.
    dbt compile --select circuit_usage --vars '{sensor: DD67F2DE418FF162, circuit_number: 1,
        from: "2024-04-01T00:00:00Z", to: "2024-04-01T01:00:00Z"}'
    `sensor` is a sensor id or a duid. The same question on the command line (bound parameters, checked
    input): gridhouse usage circuit --sensor ... --number ... --from ... --to ...
-#}
{%- set window_start = dbt.string_literal(var('from', '2024-04-01T00:00:00Z')) ~ '::timestamptz' -%}
{%- set window_end = dbt.string_literal(var('to', '2024-04-02T00:00:00Z')) ~ '::timestamptz' -%}
{%- set sensor = dbt.string_literal(var('sensor', '')) -%}
{%- set circuit_number = var('circuit_number', 1) | int %}

with

circuit as (

    select *
    from {{ ref('dim_circuits') }}
    where
        (sensor_id = {{ sensor }} or lower(duid) = lower({{ sensor }}))
        and circuit_number = {{ circuit_number }}

),

holds as (

    select holds.*
    from {{ ref('int_circuits__power_holds') }} as holds
    inner join circuit
        on holds.circuit_id = circuit.circuit_id
    where
        holds.held_from < {{ window_end }}
        and (holds.held_from >= {{ window_start }} or holds.held_until > {{ window_start }})

),

usage as (

    select
        count(*) filter (where held_from >= {{ window_start }}) as samples,
        coalesce(
            sum({{ hold_wh_within(window_start, window_end) }}) filter (where held_until is not null), 0
        ) as energy_wh,
        coalesce(
            sum({{ hold_seconds_within(window_start, window_end) }}) filter (where held_until is not null), 0
        ) as covered_seconds
    from holds

),

final as (

    select
        circuit.circuit_id,
        circuit.sensor_id,
        circuit.duid,
        circuit.circuit_number,
        circuit.circuit_name,
        circuit.sensor_name,
        circuit.location_id,
        circuit.location_name,
        circuit.organization_id,
        circuit.organization_name,
        circuit.brand_id,
        circuit.brand_name,
        {{ window_start }} as window_start,
        {{ window_end }} as window_end,
        usage.energy_wh / 1000.0 as energy_kwh,
        usage.energy_wh
        / (extract(epoch from ({{ window_end }} - {{ window_start }})) / 3600.0) as mean_power_w,
        usage.samples,
        usage.covered_seconds / 3600.0 as covered_hours
    from circuit
    cross join usage

)

select * from final
{#- circuits stay on PostgreSQL: nothing to analyse on the Spark target (docs/spark.md) -#}
{{ config(enabled=target.type != 'spark') }}
