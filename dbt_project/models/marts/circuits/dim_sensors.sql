with

sensors as (

    select * from {{ ref('stg_circuits__sensors') }}

),

locations as (

    select * from {{ ref('dim_locations') }}

),

final as (

    select
        sensors.sensor_id::text as sensor_id,
        sensors.duid::text as duid,
        sensors.sensor_name::text as sensor_name,
        sensors.location_id::text as location_id,
        locations.location_name,
        locations.organization_id,
        locations.organization_name,
        locations.brand_id,
        locations.brand_name
    from sensors
    left join locations
        on sensors.location_id = locations.location_id

)

select * from final
