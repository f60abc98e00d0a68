{#-
    The latest reading of every device, kept up to date incrementally: a run reads only the readings of
    the loads it has not taken in (macro loads_to_take_in) and keeps, per
    device, the newer of that and what it had. So marts.fleet_energy_now costs one row per device, whatever the
    length of the history. Grain device_id.
-#}
{{
    config(
        materialized='incremental',
        unique_key='device_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

readings as (

    select * from {{ ref('stg_devices__readings') }}
    where {{ loads_to_take_in('devices') }}

),

candidates as (

    select
        device_id,
        measured_at,
        power_w,
        energy_wh,
        charge_pct,
        mode as device_mode,
        loaded_at
    from readings
    {%- if is_incremental() %}

        union all

        select
            current_state.device_id,
            current_state.measured_at,
            current_state.power_w,
            current_state.energy_wh,
            current_state.charge_pct,
            current_state.device_mode,
            current_state.loaded_at
        from {{ this }} as current_state
        where current_state.device_id in (select readings.device_id from readings)
    {%- endif %}

),

final as (

    select distinct on (device_id)
        device_id::text as device_id,
        measured_at::timestamptz as measured_at,
        power_w::double precision as power_w,
        energy_wh::double precision as energy_wh,
        charge_pct::double precision as charge_pct,
        device_mode::text as device_mode,
        loaded_at::timestamptz as loaded_at
    from candidates
    order by device_id asc, measured_at desc, loaded_at desc

)

select * from final
