with

locations as (

    select * from {{ ref('stg_circuits__locations') }}

),

organizations as (

    select * from {{ ref('dim_organizations') }}

),

final as (

    select
        locations.location_id::text as location_id,
        locations.location_name::text as location_name,
        locations.organization_id::text as organization_id,
        organizations.organization_name,
        organizations.brand_id,
        organizations.brand_name
    from locations
    left join organizations
        on locations.organization_id = organizations.organization_id

)

select * from final
