{#- One row per smart-home device: kind, home, time zone and the kind's specifications. -#}
{#- Every row recomputed on every run and replaced in place (delete+insert on the key, in one
    transaction), so the views over this table (fct_home_energy_* and fleet_energy_now) are never dropped by a rebuild. -#}
{{
    config(
        materialized='incremental_in_place',
        incremental_strategy='delete+insert',
        unique_key='device_id',
        on_schema_change='fail',
    )
}}
with

devices as (

    select * from {{ ref('stg_devices__devices') }}

),

final as (

    select
        device_id::{{ sqltype('text') }} as device_id,
        home_id::{{ sqltype('text') }} as home_id,
        device_kind::{{ sqltype('text') }} as device_kind,
        device_name::{{ sqltype('text') }} as device_name,
        coalesce(
            time_zone, {{ dbt.string_literal(var('device_time_zone')) }}
        )::{{ sqltype('text') }} as time_zone,
        rated_w,
        average_w,
        storage_capacity_wh,
        max_charge_w,
        max_discharge_w,
        driving_w,
        specs
    from devices

)

select * from final
