{#-
    One row per circuit. The vendor's circuits have no stable id (random on every load), so the natural
    key is (sensor_id, circuit_number) and circuit_id is a surrogate derived from it: md5 of
    `<sensor_id>|<circuit_number>`, the same on every load and every database.
-#}
{#- Every row recomputed on every run and replaced in place (delete+insert on the key, in one
    transaction), so the views over this table (int_circuits__power) are never dropped by a rebuild. -#}
{{
    config(
        materialized='incremental_in_place',
        incremental_strategy='delete+insert',
        unique_key='circuit_id',
        on_schema_change='fail',
    )
}}
with

circuits as (

    select * from {{ ref('stg_circuits__circuits') }}

),

sensors as (

    select * from {{ ref('dim_sensors') }}

),

final as (

    select
        {{ circuit_surrogate_key('circuits.sensor_id', 'circuits.circuit_number') }} as circuit_id,
        circuits.sensor_id::text as sensor_id,
        circuits.circuit_number::integer as circuit_number,
        circuits.circuit_name::text as circuit_name,
        sensors.duid,
        sensors.sensor_name,
        sensors.location_id,
        sensors.location_name,
        sensors.organization_id,
        sensors.organization_name,
        sensors.brand_id,
        sensors.brand_name
    from circuits
    left join sensors
        on circuits.sensor_id = sensors.sensor_id

)

select * from final
