{#-
    Every meter reading with its OBIS code decoded from the obis_codes seed and its tenant. Codes the seed
    does not know are kept, with is_known_obis_code = false (assert_meter_obis_codes_are_known warns).
-#}
with

readings as (

    select * from {{ ref('stg_meters__readings') }}

),

obis_codes as (

    select * from {{ ref('obis_codes') }}

),

tenants as (

    select * from {{ ref('stg_meters__tenants') }}

),

final as (

    select
        readings.meter_id,
        coalesce(tenants.tenant_id, {{ dbt.string_literal(var('tenant_id')) }}) as tenant_id,
        readings.obis_code,
        coalesce(obis_codes.obis_id, readings.obis_id) as obis_id,
        obis_codes.obis_code is not null as is_known_obis_code,
        obis_codes.direction,
        obis_codes.quantity,
        obis_codes.unit,
        obis_codes.interval_minutes,
        readings.measured_at,
        readings.value,
        readings.measurement,
        readings.quality,
        readings.loaded_at
    from readings
    left join obis_codes
        on readings.obis_code = obis_codes.obis_code
    left join tenants
        on readings.meter_id = tenants.meter_id

)

select * from final
