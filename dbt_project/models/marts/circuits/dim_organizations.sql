with

organizations as (

    select * from {{ ref('stg_circuits__organizations') }}

),

brands as (

    select * from {{ ref('stg_circuits__brands') }}

),

final as (

    select
        organizations.organization_id::text as organization_id,
        organizations.organization_name::text as organization_name,
        organizations.brand_id::text as brand_id,
        brands.brand_name::text as brand_name
    from organizations
    left join brands
        on organizations.brand_id = brands.brand_id

)

select * from final
