{#-
    One row per battery asset: its datasheet figures from the seed battery_specs, each column from the
    asset's own row, else from the row model_name = 'default'; the nominal capacity from var
    battery_nominal_capacity_kwh ({asset_id: kWh}) where it names the asset, which overrides the seed.
    rated_power_kw (the greater of charge and discharge) bounds the asset's battery counters and power
    readings (docs/domain.md, "Cumulative counters"). The commissioning day from var battery_commissioned_on
    ({asset_id: 'YYYY-MM-DD'}) where it names the asset, else the asset's own row (never the default row: it
    is a fact of one asset): fct_battery_health counts calendar age from it.
-#}
{%- set nominal = var('battery_nominal_capacity_kwh') or {} -%}
{%- set commissioned = var('battery_commissioned_on') or {} -%}

with

specs as (

    select * from {{ ref('battery_specs') }}

),

assets as (

    -- Every asset the vendor lists or that has telemetry.
    select asset_id::text as asset_id from {{ ref('stg_batteries__assets') }}
    union
    select asset_id from {{ ref('dim_battery_series') }}

),

nominal_override as (

    {%- if nominal %}
        select
            nominal.asset_id,
            nominal.nominal_capacity_kwh
        from (
            values
            {%- for asset_id, kwh in nominal.items() %}
                ('{{ asset_id }}', {{ kwh }}::double precision){{ ',' if not loop.last }}
            {%- endfor %}
        ) as nominal (asset_id, nominal_capacity_kwh)
    {%- else %}
        select
            null::text as asset_id,
            null::double precision as nominal_capacity_kwh
        where false
    {%- endif %}

),

commissioned_override as (

    {%- if commissioned %}
        select
            commissioned.asset_id,
            commissioned.commissioned_on
        from (
            values
            {%- for asset_id, day in commissioned.items() %}
                ('{{ asset_id }}', '{{ day }}'::date){{ ',' if not loop.last }}
            {%- endfor %}
        ) as commissioned (asset_id, commissioned_on)
    {%- else %}
        select
            null::text as asset_id,
            null::date as commissioned_on
        where false
    {%- endif %}

),

fallback as (

    select * from specs
    where model_name = 'default' and asset_id is null

),

resolved as (

    select
        assets.asset_id,
        coalesce(own.model_name, fallback.model_name) as model_name,
        case
            when nominal_override.asset_id is not null then 'var'
            when own.nominal_capacity_kwh is not null then 'asset'
            when fallback.nominal_capacity_kwh is not null then 'default'
        end as nominal_capacity_source,
        coalesce(
            nominal_override.nominal_capacity_kwh, own.nominal_capacity_kwh, fallback.nominal_capacity_kwh
        ) as nominal_capacity_kwh,
        coalesce(own.max_charge_kw, fallback.max_charge_kw) as max_charge_kw,
        coalesce(own.max_discharge_kw, fallback.max_discharge_kw) as max_discharge_kw,
        coalesce(own.chemistry, fallback.chemistry) as chemistry,
        coalesce(own.warranty_cycles, fallback.warranty_cycles) as warranty_cycles,
        coalesce(own.warranty_years, fallback.warranty_years) as warranty_years,
        coalesce(own.max_cell_temperature_c, fallback.max_cell_temperature_c) as max_cell_temperature_c,
        coalesce(commissioned_override.commissioned_on, own.commissioned_on) as commissioned_on,
        own.asset_id is not null as has_own_specs
    from assets
    left join specs as own
        on assets.asset_id = own.asset_id
    left join fallback
        on true
    left join nominal_override
        on assets.asset_id = nominal_override.asset_id
    left join commissioned_override
        on assets.asset_id = commissioned_override.asset_id

),

final as (

    select
        asset_id,
        model_name,
        nominal_capacity_kwh,
        nominal_capacity_source,
        max_charge_kw,
        max_discharge_kw,
        -- A datasheet that gives one direction gives it for both (greatest() ignores the null).
        greatest(max_charge_kw, max_discharge_kw) as rated_power_kw,
        chemistry,
        warranty_cycles,
        warranty_years,
        max_cell_temperature_c,
        commissioned_on,
        has_own_specs
    from resolved

)

select * from final
