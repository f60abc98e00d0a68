{#-
    Which tenant each meter belongs to: the loader's raw_meters.tenants (from a tenants.csv next to the
    meter files, see docs/meters.md). Read here with explicit columns because staging/meters has no model
    for it yet. The table exists only once a tenants.csv was loaded: without it the mapping is empty and
    every meter belongs to var('tenant_id') (GRIDHOUSE_TENANT, default `default`).
-#}
{%- set relation = none -%}
{%- if execute -%}
    {%- set relation = adapter.get_relation(
        database=target.database,
        schema=source('meter_tenancy', 'tenants').schema,
        identifier=source('meter_tenancy', 'tenants').identifier,
    ) -%}
{%- endif %}

with

source as (

    {% if relation is not none -%}
        select
            muid,
            tenant_id,
            _loaded_at
        from {{ source('meter_tenancy', 'tenants') }}
    {%- else -%}
        select
            null::text as muid,
            null::text as tenant_id,
            null::timestamptz as _loaded_at
        where false
    {%- endif %}

),

renamed as (

    select
        muid as meter_id,
        tenant_id,
        _loaded_at as loaded_at
    from source

),

final as (

    select distinct on (meter_id)
        meter_id,
        tenant_id,
        loaded_at
    from renamed
    order by meter_id asc, loaded_at desc

)

select * from final
