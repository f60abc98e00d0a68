{#
    Select list shared by the home rollups (int_devices__home_hours, fct_home_energy_daily and
    _monthly): sums a device rollup (alias `tier`, joined to dim_devices as `devices` and to the home
    capacities as `homes`) over a home's devices, added in device order (these are views: the same
    answer whatever the plan). Storage: energy stored in the home's batteries (EVs) at the end of the
    period, each device at its last reading, over the capacity of all its batteries (EVs), in %.
#}
{% macro home_energy_columns() -%}
        {{ sum_in_order('tier.produced_kwh', 'tier.device_id') }} as produced_kwh,
        {{ sum_in_order('tier.consumed_kwh', 'tier.device_id') }} as consumed_kwh,
        {{ sum_in_order('tier.net_kwh', 'tier.device_id') }} as net_kwh,
        coalesce(
            {{ sum_in_order('tier.net_kwh', 'tier.device_id') }} filter (where tier.device_kind = 'solar_panel'), 0
        ) as solar_kwh,
        100.0 * {{ sum_in_order('tier.last_charge_pct / 100.0 * devices.storage_capacity_wh', 'tier.device_id') }}
        filter (where tier.device_kind = 'battery')
        / nullif(max(homes.battery_capacity_wh), 0) as battery_storage_pct,
        100.0 * {{ sum_in_order('tier.last_charge_pct / 100.0 * devices.storage_capacity_wh', 'tier.device_id') }}
        filter (where tier.device_kind = 'ev')
        / nullif(max(homes.ev_capacity_wh), 0) as ev_charge_pct,
        max(tier.loaded_at) as loaded_at
{%- endmacro %}


{#- SQL: one row per home with its time zone and total battery and EV capacity, from dim_devices. -#}
{% macro home_capacities(devices) -%}
    select
        home_id,
        max(time_zone) as time_zone,
        sum(storage_capacity_wh) filter (where device_kind = 'battery') as battery_capacity_wh,
        sum(storage_capacity_wh) filter (where device_kind = 'ev') as ev_capacity_wh
    from {{ devices }}
    group by home_id
{%- endmacro %}
