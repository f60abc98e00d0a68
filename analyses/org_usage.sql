{#-
    One organization in the window [from, to) (seed 002's second question): total energy (kWh) and mean
    power over the window (W) of all its circuits, the circuits reporting (with samples in the window) and
    the average per reporting circuit (total / circuits).
    dbt compile --select org_usage --vars '{org: 719aeacd-dc94-4476-874b-0d178d8c0c48,
        from: "2024-04-01T00:00:00Z", to: "2024-04-02T00:00:00Z"}'
    The same on the command line: gridhouse usage org --org ... --from ... --to ...
-#}
{%- set window_start = dbt.string_literal(var('from', '2024-04-01T00:00:00Z')) ~ '::timestamptz' -%}
{%- set window_end = dbt.string_literal(var('to', '2024-04-02T00:00:00Z')) ~ '::timestamptz' -%}
{%- set org = dbt.string_literal(var('org', '')) %}

with

organization as (

    select *
    from {{ ref('dim_organizations') }}
    where organization_id = {{ org }}

),

per_circuit as (

    select
        holds.circuit_id,
        count(*) filter (where holds.held_from >= {{ window_start }}) as samples,
        coalesce(
            sum({{ hold_wh_within(window_start, window_end) }}) filter (where holds.held_until is not null), 0
        ) as energy_wh
    from {{ ref('int_circuits__power_holds') }} as holds
    where
        holds.organization_id = {{ org }}
        and holds.held_from < {{ window_end }}
        and (holds.held_from >= {{ window_start }} or holds.held_until > {{ window_start }})
    group by holds.circuit_id

),

totals as (

    select
        sum(energy_wh) / 1000.0 as total_energy_kwh,
        sum(energy_wh) / (extract(epoch from ({{ window_end }} - {{ window_start }})) / 3600.0)
            as total_mean_power_w,
        count(*) filter (where samples > 0) as circuits
    from per_circuit

),

final as (

    select
        organization.organization_id,
        organization.organization_name,
        organization.brand_id,
        organization.brand_name,
        {{ window_start }} as window_start,
        {{ window_end }} as window_end,
        totals.total_energy_kwh,
        totals.total_mean_power_w,
        totals.circuits,
        totals.total_energy_kwh / nullif(totals.circuits, 0) as avg_energy_kwh_per_circuit,
        totals.total_mean_power_w / nullif(totals.circuits, 0) as avg_power_w_per_circuit
    from organization
    cross join totals

)

select * from final
{#- circuits stay on PostgreSQL: nothing to analyse on the Spark target (docs/spark.md) -#}
{{ config(enabled=target.type != 'spark') }}
