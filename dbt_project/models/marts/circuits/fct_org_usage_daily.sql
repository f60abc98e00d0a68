{#-
    One row per organisation and day (var('circuit_time_zone'), default UTC): total energy of its circuits
    (kWh), total mean power (that energy spread over the day's hours: 24, or 23 / 25 on a local DST day),
    the circuits reporting (with at least one sample that day) and the averages per reporting circuit:
    avg_energy_kwh_per_circuit = total_energy_kwh / circuits_reporting and
    avg_power_w_per_circuit = total_mean_power_w / circuits_reporting.
-#}
{%- set tz = dbt.string_literal(var('circuit_time_zone')) %}

with

hourly as (

    select * from {{ ref('fct_circuit_usage_hourly') }}

),

organizations as (

    select * from {{ ref('dim_organizations') }}

),

circuits as (

    select * from {{ ref('dim_circuits') }}

),

circuit_days as (

    select
        organization_id,
        circuit_id,
        (hour_start at time zone {{ tz }})::date as usage_date,
        -- Sums of doubles in a fixed order: a re-run (or a parallel plan) gives the same bits.
        sum(energy_wh order by hour_start) as energy_wh,
        sum(covered_seconds order by hour_start) as covered_seconds,
        sum(samples) as samples
    from hourly
    group by organization_id, circuit_id, (hour_start at time zone {{ tz }})::date

),

org_days as (

    select
        organization_id,
        usage_date,
        sum(energy_wh order by circuit_id) / 1000.0 as total_energy_kwh,
        sum(energy_wh order by circuit_id)
        / ({{ local_day_quarter_hours('usage_date', tz) }} / 4.0) as total_mean_power_w,
        count(*) filter (where samples > 0) as circuits_reporting,
        sum(samples) as samples
    from circuit_days
    group by organization_id, usage_date

),

circuit_counts as (

    select
        organization_id,
        count(*) as circuits_total
    from circuits
    group by organization_id

),

final as (

    select
        org_days.organization_id::text as organization_id,
        organizations.organization_name::text as organization_name,
        organizations.brand_id::text as brand_id,
        org_days.usage_date::date as usage_date,
        {{ tz }}::text as time_zone,
        org_days.total_energy_kwh::double precision as total_energy_kwh,
        coalesce(org_days.total_mean_power_w, 0)::double precision as total_mean_power_w,
        org_days.circuits_reporting::integer as circuits_reporting,
        coalesce(circuit_counts.circuits_total, 0)::integer as circuits_total,
        (org_days.total_energy_kwh / nullif(org_days.circuits_reporting, 0))::double precision
            as avg_energy_kwh_per_circuit,
        (coalesce(org_days.total_mean_power_w, 0) / nullif(org_days.circuits_reporting, 0))::double precision
            as avg_power_w_per_circuit,
        org_days.samples::integer as samples
    from org_days
    left join organizations
        on org_days.organization_id = organizations.organization_id
    left join circuit_counts
        on org_days.organization_id = circuit_counts.organization_id

)

select * from final
