{{
    config(
        post_hook=["{{ ensure_index(this, ['asset_id', 'started_at desc']) }}"],
    )
}}

with

soc_points as (

    select * from {{ ref('int_batteries__soc_points') }}

),

episodes as (

    {{ low_soc_episodes('soc_points', var('battery_low_soc_pct'), partition_by=['asset_id', 'metric']) }}

),

final as (

    select
        asset_id,
        metric,
        started_at,
        last_low_at,
        recovered_at,
        is_open,
        min_soc_pct,
        low_points,
        {{ var('battery_low_soc_pct') }}::double precision as threshold_pct
    from episodes

)

select * from final
