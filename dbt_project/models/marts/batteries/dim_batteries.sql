{#- Every row recomputed on every run and replaced in place (delete+insert on the key, in one
    transaction), so the views over this table (the alert views) are never dropped by a rebuild. -#}
{{
    config(
        materialized='incremental_in_place',
        incremental_strategy='delete+insert',
        unique_key='asset_id',
        on_schema_change='fail',
    )
}}
with

assets as (

    select * from {{ ref('stg_batteries__assets') }}

),

vendor_state_history as (

    select * from {{ ref('snap_batteries__vendor_state') }}

),

series as (

    select * from {{ ref('dim_battery_series') }}

),

last_ok as (

    -- When the asset was last seen Ok: a not-Ok episode starts with the first version after it. A version's
    -- time is when the loader read the file that first showed it (the vendor publishes no change time).
    select
        asset_id,
        max(coalesce(dbt_valid_to, 'infinity'::timestamptz)) as ok_until
    from vendor_state_history
    where vendor_state = 'Ok'
    group by asset_id

),

state_since as (

    select
        history.asset_id,
        min(history.loaded_at) filter (where history.dbt_valid_to is null) as vendor_state_since,
        min(history.loaded_at) filter (
            where history.vendor_state <> 'Ok'
            and history.dbt_valid_from >= coalesce(last_ok.ok_until, '-infinity'::timestamptz)
        ) as not_ok_since
    from vendor_state_history as history
    left join last_ok
        on history.asset_id = last_ok.asset_id
    group by history.asset_id

),

series_summary as (

    select
        asset_id,
        count(*) as n_series,
        bool_or(quantity = 'StateOfCharge' and unit = '%') as has_soc,
        min(first_measured_at) as first_measured_at,
        max(last_measured_at) as last_measured_at
    from series
    group by asset_id

),

final as (

    select
        -- The contract's types: staging's varchar would look like a schema change on the next run.
        assets.asset_id::text as asset_id,
        assets.asset_name::text as asset_name,
        assets.vendor_state::text as vendor_state,
        coalesce(state_since.vendor_state_since, assets.loaded_at) as vendor_state_since,
        case
            when assets.vendor_state <> 'Ok'
                then coalesce(state_since.not_ok_since, state_since.vendor_state_since, assets.loaded_at)
        end as vendor_not_ok_since,
        coalesce(series_summary.n_series, 0) as n_series,
        coalesce(series_summary.has_soc, false) as has_soc,
        series_summary.first_measured_at,
        series_summary.last_measured_at,
        assets.loaded_at
    from assets
    left join state_since
        on assets.asset_id = state_since.asset_id
    left join series_summary
        on assets.asset_id = series_summary.asset_id

)

select * from final
