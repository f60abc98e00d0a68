{%- set window_days = var('battery_health_window_days') -%}

with

daily_sums as (

    -- The fit's sums per asset and day (incremental); this table costs assets x days, not points.
    select * from {{ ref('int_batteries__health_steps_daily') }}

),

nominal_capacity as (

    -- The nominal (datasheet) capacity per asset: the vendor does not publish it (var
    -- battery_nominal_capacity_kwh, else seed battery_specs, resolved by int_batteries__specs).
    select
        asset_id,
        nominal_capacity_kwh
    from {{ ref('int_batteries__specs') }}
    where nominal_capacity_kwh is not null

),

windowed as (

    select
        asset_id,
        day_utc,
        efc,
        sum(efc) over (partition by asset_id order by day_utc rows unbounded preceding) as efc_cumulative,
        (sum(n_steps) over trailing_days)::bigint as n_steps_window,
        sum(efc) over trailing_days as efc_window,
        sum(sxx) over trailing_days as sxx,
        sum(syy) over trailing_days as syy,
        sum(sxy) over trailing_days as sxy,
        sum(sxz) over trailing_days as sxz,
        sum(syz) over trailing_days as syz
    from daily_sums
    window trailing_days as (
        partition by asset_id
        order by day_utc
        range between interval '{{ window_days - 1 }} days' preceding and current row
    )

),

fitted as (

    -- Least squares without intercept of delta SoC = a * charged - b * discharged over the trailing window,
    -- a = 100 * eta / capacity and b = 100 / (eta * capacity) (stored energy moves by eta = sqrt(round-trip
    -- efficiency) each way), so capacity = 100 / sqrt(a * b) whatever the efficiency.
    select
        *,
        (sxy * syz - sxz * syy) / nullif(sxy * sxy - sxx * syy, 0) as a_fit,
        (sxx * syz - sxy * sxz) / nullif(sxy * sxy - sxx * syy, 0) as b_fit
    from windowed

),

estimated as (

    select
        fitted.asset_id,
        fitted.day_utc,
        fitted.efc,
        fitted.efc_cumulative,
        fitted.efc_window,
        fitted.n_steps_window,
        case
            when
                fitted.efc_window * 200 >= {{ var('battery_min_swing_pct') }}
                and fitted.a_fit > 0
                and fitted.b_fit > 0
                then 100.0 / sqrt(fitted.a_fit * fitted.b_fit)
        end as capacity_kwh,
        nominal_capacity.nominal_capacity_kwh
    from fitted
    left join nominal_capacity
        on fitted.asset_id = nominal_capacity.asset_id

),

with_soh as (

    select
        *,
        100.0 * capacity_kwh / nominal_capacity_kwh as soh_pct,
        extract(epoch from day_utc::timestamp) / 86400.0 as day_number
    from estimated

),

trend as (

    select
        asset_id,
        count(soh_pct) as n_trend_days,
        regr_slope(soh_pct, efc_cumulative) * 100 as fade_pct_per_100_efc,
        regr_slope(soh_pct, day_number) as fade_pct_per_day,
        regr_intercept(soh_pct, day_number) as soh_at_day_zero_pct
    from with_soh
    group by asset_id

),

final as (

    select
        with_soh.asset_id,
        with_soh.day_utc,
        with_soh.capacity_kwh,
        with_soh.n_steps_window as capacity_observations,
        with_soh.nominal_capacity_kwh,
        with_soh.soh_pct,
        with_soh.efc,
        with_soh.efc_cumulative,
        with_soh.efc_window,
        trend.fade_pct_per_100_efc,
        trend.n_trend_days as fade_observations,
        case
            when trend.fade_pct_per_day < 0 and trend.n_trend_days >= 2
                then (
                    date '1970-01-01'
                    + ceil((80.0 - trend.soh_at_day_zero_pct) / trend.fade_pct_per_day)::integer
                )
        end as projected_soh_80_date
    from with_soh
    inner join trend
        on with_soh.asset_id = trend.asset_id

)

select * from final
