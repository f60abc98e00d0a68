with

telemetry as (

    select * from {{ ref('stg_batteries__telemetry') }}

),

soc as (

    select
        asset_id,
        metric,
        measured_at,
        value as soc_pct
    from telemetry
    where quantity = 'StateOfCharge' and unit = '%'

),

final as (

    select
        asset_id,
        metric,
        measured_at,
        soc_pct,
        lag(soc_pct) over (partition by asset_id, metric order by measured_at) as previous_soc_pct,
        coalesce(
            abs(soc_pct - lag(soc_pct) over (partition by asset_id, metric order by measured_at)) / 200.0,
            0.0
        ) as efc
    from soc

)

select * from final
