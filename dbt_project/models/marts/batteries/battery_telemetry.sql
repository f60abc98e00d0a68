{#-
    Every battery point with its unit and value (double precision), read from its storage,
    int_batteries__telemetry_scaled, where the value is a scaled integer plus the exact double wherever
    the integer would not reproduce it: scaled_value gives back exactly the value loaded. The view is
    inlined into every query, so filters on asset_id, metric and measured_at reach the storage's indexes
    (PostgreSQL) and chunks (TimescaleDB).
-#}
{{ config(materialized='view_in_place') }}

with

stored as (

    select * from {{ ref('int_batteries__telemetry_scaled') }}

),

final as (

    select
        asset_id,
        metric,
        unit,
        measured_at,
        {{ scaled_value('value_scaled', 'value_decimals', 'value_exact') }} as value
    from stored

)

select * from final
