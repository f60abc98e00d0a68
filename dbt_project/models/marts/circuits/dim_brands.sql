with

brands as (

    select * from {{ ref('stg_circuits__brands') }}

),

final as (

    select
        brand_id::text as brand_id,
        brand_name::text as brand_name
    from brands

)

select * from final
