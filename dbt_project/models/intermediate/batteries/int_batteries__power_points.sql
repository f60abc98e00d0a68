{#-
    One row per point of a battery asset's power series (unit W), labelled plausible or not against the
    power the asset can have: BatteryPower against its rated power from battery_specs (int_batteries__specs),
    any other power series (grid, generation, setpoints), or an asset without specs, against var
    battery_default_max_power_kw; each with the margin plausible_power_margin. Nothing sums power; a model
    that uses a power reading takes the plausible ones (docs/domain.md, "Energy and power"). A view over
    the history for analysts and alerting; the counter rule's observed power applies the same ceiling
    (int_batteries__series_daily.max_power_w).
-#}

with

telemetry as (

    select * from {{ ref('stg_batteries__telemetry') }}

),

specs as (

    select * from {{ ref('int_batteries__specs') }}

),

power as (

    select
        telemetry.asset_id,
        telemetry.metric,
        telemetry.quantity,
        telemetry.measured_at,
        telemetry.value as power_w,
        case
            when telemetry.quantity = 'BatteryPower' then specs.rated_power_kw
        end as rated_power_kw
    from telemetry
    left join specs
        on telemetry.asset_id = specs.asset_id
    where telemetry.unit = 'W'

),

final as (

    select
        asset_id,
        metric,
        quantity,
        measured_at,
        power_w,
        coalesce(rated_power_kw, {{ var('battery_default_max_power_kw') }})::double precision
            as max_power_kw,
        -- NaN compares above every number in PostgreSQL, so it is implausible too.
        coalesce(
            abs(power_w)
            <= 1000.0 * coalesce(rated_power_kw, {{ var('battery_default_max_power_kw') }})
            * (1 + {{ var('plausible_power_margin') }}),
            false
        ) as is_plausible
    from power

)

select * from final
