{%- set min_efc = var('battery_health_min_window_efc') -%}
{%- set min_steps = var('battery_health_min_window_steps') -%}
{%- set max_days = var('battery_health_max_window_days') -%}
{%- set min_swing = var('battery_min_swing_pct') -%}
{%- set temperature_coefficient = var('battery_capacity_temperature_coefficient_pct_per_c') -%}
{%- set credible_se = var('battery_fade_credible_se') -%}
{%- set min_fit_windows = var('battery_health_min_fit_windows') -%}
{%- set recent_efc_days = var('battery_health_recent_efc_days') -%}
{%- set recent_days = recent_efc_days - 1 -%}

with

daily_sums as (

    -- The fit's sums per asset and day (incremental); this table costs assets x days, not points.
    select * from {{ ref('int_batteries__health_steps_daily') }}

),

nominal_capacity as (

    -- The nominal (datasheet) capacity per asset: var battery_nominal_capacity_kwh, else seed battery_specs
    -- (resolved by int_batteries__specs); the vendor does not publish it.
    select
        asset_id,
        nominal_capacity_kwh
    from {{ ref('int_batteries__specs') }}
    where nominal_capacity_kwh is not null

),

commissioning as (

    -- The day each asset went into service (seed battery_specs or var battery_commissioned_on): calendar
    -- age counts from it.
    select
        asset_id,
        commissioned_on
    from {{ ref('int_batteries__specs') }}
    where commissioned_on is not null

),

cumulative as (

    -- Running sums through each day: a window's sums are the difference of two of them.
    select
        asset_id,
        day_utc,
        efc,
        n_steps,
        min(day_utc) over running as first_day,
        sum(efc) over running as efc_cumulative,
        sum(n_steps) over running as steps_cumulative,
        sum(sxx) over running as sxx_cumulative,
        sum(syy) over running as syy_cumulative,
        sum(sxy) over running as sxy_cumulative,
        sum(sxz) over running as sxz_cumulative,
        sum(syz) over running as syz_cumulative,
        sum(coalesce(cell_temperature_sum_c, 0)) over running as temperature_sum_cumulative_c,
        sum(n_cell_temperature) over running as temperature_n_cumulative,
        -- The latest day up to this one with a swing of at least battery_min_swing_pct: every window ending
        -- here must reach back to it.
        max(day_utc) filter (where soc_range_pct >= {{ min_swing }}) over running as last_swing_day
    from daily_sums
    window running as (partition by asset_id order by day_utc rows unbounded preceding)

),

window_starts as (

    -- The shortest window ending on each day that holds battery_health_min_window_efc EFC,
    -- battery_health_min_window_steps steps and one swing: its start is the latest day meeting all three
    -- (each condition holds for every earlier start too), at most battery_health_max_window_days back.
    select
        w_end.asset_id,
        w_end.day_utc,
        max(w_start.day_utc) as window_start
    from cumulative as w_end
    inner join cumulative as w_start
        on
            w_end.asset_id = w_start.asset_id
            and w_start.day_utc between w_end.day_utc - {{ max_days - 1 }} and w_end.last_swing_day
    where
        w_end.efc_cumulative - (w_start.efc_cumulative - w_start.efc) >= {{ min_efc }}
        and w_end.steps_cumulative - (w_start.steps_cumulative - w_start.n_steps) >= {{ min_steps }}
    group by w_end.asset_id, w_end.day_utc

),

windowed as (

    select
        w_end.asset_id,
        w_end.day_utc,
        w_end.efc,
        w_end.efc_cumulative,
        w_end.first_day,
        window_starts.window_start,
        w_end.efc_cumulative - (w_start.efc_cumulative - w_start.efc) as efc_window,
        (w_end.steps_cumulative - (w_start.steps_cumulative - w_start.n_steps))::bigint as n_steps_window,
        w_end.sxx_cumulative - (w_start.sxx_cumulative - daily_sums.sxx) as sxx,
        w_end.syy_cumulative - (w_start.syy_cumulative - daily_sums.syy) as syy,
        w_end.sxy_cumulative - (w_start.sxy_cumulative - daily_sums.sxy) as sxy,
        w_end.sxz_cumulative - (w_start.sxz_cumulative - daily_sums.sxz) as sxz,
        w_end.syz_cumulative - (w_start.syz_cumulative - daily_sums.syz) as syz,
        (
            w_end.temperature_sum_cumulative_c
            - (w_start.temperature_sum_cumulative_c - coalesce(daily_sums.cell_temperature_sum_c, 0))
        )
        / nullif(
            w_end.temperature_n_cumulative
            - (w_start.temperature_n_cumulative - daily_sums.n_cell_temperature),
            0
        ) as cell_temperature_mean_c
    from cumulative as w_end
    left join window_starts
        on
            w_end.asset_id = window_starts.asset_id
            and w_end.day_utc = window_starts.day_utc
    left join cumulative as w_start
        on
            window_starts.asset_id = w_start.asset_id
            and window_starts.window_start = w_start.day_utc
    left join daily_sums
        on
            window_starts.asset_id = daily_sums.asset_id
            and window_starts.window_start = daily_sums.day_utc

),

estimated as (

    select
        *,
        {{ capacity_from_sums('sxx', 'syy', 'sxy', 'sxz', 'syz') }} as capacity_kwh
    from windowed

),

first_observed as (

    -- Without a nominal capacity SoH is relative to the asset's first estimate (its window already holds
    -- the required EFC, steps and swing).
    select distinct on (asset_id)
        asset_id,
        day_utc as basis_day,
        capacity_kwh as basis_capacity_kwh
    from estimated
    where capacity_kwh is not null
    order by asset_id asc, day_utc asc

),

basis as (

    select
        first_observed.asset_id,
        case when nominal_capacity.nominal_capacity_kwh is not null then 'nominal' else 'first_observed' end
            as soh_basis,
        coalesce(nominal_capacity.nominal_capacity_kwh, first_observed.basis_capacity_kwh)
            as soh_basis_capacity_kwh,
        case when nominal_capacity.nominal_capacity_kwh is null then first_observed.basis_day end
            as soh_basis_day
    from first_observed
    left join nominal_capacity
        on first_observed.asset_id = nominal_capacity.asset_id

),

with_soh as (

    select
        estimated.*,
        nominal_capacity.nominal_capacity_kwh,
        basis.soh_basis,
        basis.soh_basis_capacity_kwh,
        basis.soh_basis_day,
        100.0 * estimated.capacity_kwh / basis.soh_basis_capacity_kwh as soh_pct,
        estimated.capacity_kwh / (
            1.0 + {{ temperature_coefficient }} / 100.0 * (estimated.cell_temperature_mean_c - 25.0)
        ) as capacity_25c_kwh
    from estimated
    left join basis
        on estimated.asset_id = basis.asset_id
    left join nominal_capacity
        on estimated.asset_id = nominal_capacity.asset_id

),

fit_blocks as (

    -- Non-overlapping windows for the fade fit, each holding battery_health_min_window_efc EFC and
    -- battery_health_min_window_steps steps (numbered by the slower of the two to accumulate), so a busy
    -- battery's are short and an idle one's long: their estimates are independent, unlike the overlapping
    -- per-day windows.
    select
        cumulative.asset_id,
        floor(least(
            (cumulative.efc_cumulative - cumulative.efc) / {{ min_efc }},
            (cumulative.steps_cumulative - cumulative.n_steps) / {{ min_steps }}
        )) as block_number,
        min(cumulative.first_day) as first_day,
        min(cumulative.day_utc) as block_start,
        max(cumulative.day_utc) as block_end,
        min(cumulative.efc_cumulative - cumulative.efc) as efc_before,
        sum(daily_sums.efc) as efc_block,
        sum(daily_sums.n_steps) as n_steps_block,
        max(daily_sums.soc_range_pct) as max_swing_pct,
        sum(daily_sums.sxx) as sxx,
        sum(daily_sums.syy) as syy,
        sum(daily_sums.sxy) as sxy,
        sum(daily_sums.sxz) as sxz,
        sum(daily_sums.syz) as syz
    from cumulative
    inner join daily_sums
        on
            cumulative.asset_id = daily_sums.asset_id
            and cumulative.day_utc = daily_sums.day_utc
    group by cumulative.asset_id, floor(least(
        (cumulative.efc_cumulative - cumulative.efc) / {{ min_efc }},
        (cumulative.steps_cumulative - cumulative.n_steps) / {{ min_steps }}
    ))

),

fit_points as (

    -- One point per complete block: capacity against the EFC and the calendar regressor at the block's
    -- middle. With a commissioning day that regressor is the square root of the age in days (calendar fade
    -- grows with the square root of time, docs/batteries.md); without one it is the days since the first
    -- data, a straight line, since the age that sets the curve is unknown.
    select
        blocks.asset_id,
        commissioning.commissioned_on is not null as has_age,
        blocks.efc_before + blocks.efc_block / 2.0 as efc_mid,
        (blocks.block_start - blocks.first_day + blocks.block_end - blocks.first_day + 1) / 2.0
            as age_mid_days,
        case
            when commissioning.commissioned_on is not null
                then sqrt(greatest(
                        (
                            blocks.block_start - commissioning.commissioned_on
                            + blocks.block_end - commissioning.commissioned_on + 1
                        ) / 2.0,
                        0
                    ))
            else (blocks.block_start - blocks.first_day + blocks.block_end - blocks.first_day + 1) / 2.0
        end as calendar_x,
        {{ capacity_from_sums('blocks.sxx', 'blocks.syy', 'blocks.sxy', 'blocks.sxz', 'blocks.syz') }}
            as capacity_kwh
    from fit_blocks as blocks
    left join commissioning
        on blocks.asset_id = commissioning.asset_id
    where
        -- A window numbered by whole units of the thresholds holds about one unit (days are indivisible):
        -- at least half of each, and the swing.
        blocks.efc_block >= {{ min_efc }} / 2.0
        and blocks.n_steps_block >= {{ min_steps }} / 2.0
        and blocks.max_swing_pct >= {{ min_swing }}

),

fit_sums as (

    -- Centred sums of the two-regressor least squares capacity = a + b * EFC + c * x (x = calendar_x), and
    -- the one-regressor slope on days for assets whose EFC and x move together.
    select
        asset_id,
        bool_and(has_age) as has_age,
        count(*) as n_windows,
        avg(capacity_kwh) as capacity_mean_kwh,
        avg(efc_mid) as efc_mean,
        avg(calendar_x) as calendar_x_mean,
        avg(age_mid_days) as age_mean_days,
        regr_sxx(capacity_kwh, efc_mid) as s11,
        regr_sxx(capacity_kwh, calendar_x) as s22,
        regr_sxy(efc_mid, calendar_x) as s12,
        regr_sxy(capacity_kwh, efc_mid) as s1y,
        regr_sxy(capacity_kwh, calendar_x) as s2y,
        regr_syy(capacity_kwh, efc_mid) as syy,
        regr_sxx(capacity_kwh, age_mid_days) as stt,
        regr_slope(capacity_kwh, age_mid_days) as time_slope_kwh_per_day,
        regr_r2(capacity_kwh, age_mid_days) as time_r2
    from fit_points
    where capacity_kwh is not null
    group by asset_id

),

fit_coefficients as (

    -- b and c solve the 2x2 normal equations. EFC and x that move together (use at a constant rate: their
    -- squared correlation above 0.99) leave them undetermined: only their sum over calendar time is known.
    select
        *,
        n_windows >= {{ min_fit_windows }} and s11 * s22 - s12 * s12 > 0.01 * s11 * s22 as separable,
        (s22 * s1y - s12 * s2y) / nullif(s11 * s22 - s12 * s12, 0) as cycle_kwh_per_efc,
        (s11 * s2y - s12 * s1y) / nullif(s11 * s22 - s12 * s12, 0) as calendar_kwh_per_x
    from fit_sums

),

fit_errors as (

    select
        *,
        greatest(syy - cycle_kwh_per_efc * s1y - calendar_kwh_per_x * s2y, 0) / nullif(n_windows - 3, 0)
            as residual_variance,
        -- One-regressor fit on days: standard error of its slope.
        sqrt(greatest(syy * (1 - time_r2), 0) / nullif(n_windows - 2, 0) / nullif(stt, 0))
            as time_slope_se_kwh_per_day
    from fit_coefficients

),

fade as (

    select
        fit_errors.*,
        sqrt(
            fit_errors.residual_variance
            * fit_errors.s22
            / nullif(fit_errors.s11 * fit_errors.s22 - fit_errors.s12 * fit_errors.s12, 0)
        ) as cycle_se_kwh_per_efc,
        sqrt(
            fit_errors.residual_variance
            * fit_errors.s11
            / nullif(fit_errors.s11 * fit_errors.s22 - fit_errors.s12 * fit_errors.s12, 0)
        ) as calendar_se_kwh_per_x,
        -fit_errors.residual_variance
        * fit_errors.s12
        / nullif(fit_errors.s11 * fit_errors.s22 - fit_errors.s12 * fit_errors.s12, 0)
            as cycle_calendar_covariance
    from fit_errors

),

latest as (

    -- The asset's last day with a capacity estimate: where the projection starts (the middle of that day).
    select distinct on (with_soh.asset_id)
        with_soh.asset_id,
        with_soh.day_utc as last_estimate_day,
        with_soh.first_day,
        with_soh.soh_pct as last_soh_pct,
        with_soh.soh_basis_capacity_kwh,
        with_soh.efc_cumulative as last_efc_cumulative,
        with_soh.day_utc - with_soh.first_day + 0.5 as last_age_days,
        with_soh.day_utc - commissioning.commissioned_on + 0.5 as last_calendar_age_days
    from with_soh
    left join commissioning
        on with_soh.asset_id = commissioning.asset_id
    where with_soh.soh_pct is not null
    order by with_soh.asset_id asc, with_soh.day_utc desc

),

recent_use as (

    -- EFC per day over the battery_health_recent_efc_days before the last estimate (all the data if
    -- shorter): the rate the projection assumes cycling goes on at.
    select
        latest.asset_id,
        sum(coalesce(daily_sums.efc, 0))
        / (
            latest.last_estimate_day
            - greatest(latest.first_day, latest.last_estimate_day - {{ recent_days }})
            + 1
        ) as efc_per_day
    from latest
    inner join daily_sums
        on
            latest.asset_id = daily_sums.asset_id
            and latest.last_estimate_day - {{ recent_efc_days }} < daily_sums.day_utc
            and latest.last_estimate_day >= daily_sums.day_utc
    group by latest.asset_id, latest.last_estimate_day, latest.first_day

),

trend as (

    -- The fitted model at the last estimate, in % of the basis capacity. calendar_x_per_day is dx/dt there:
    -- 1 / (2 sqrt(age)) for the square root of age, 1 for days. The SoH rate is b * EFC per day + c * dx/dt
    -- (its standard error from the fit's covariance), or the slope on days where b and c do not separate.
    select
        fade.*,
        latest.last_estimate_day,
        latest.last_soh_pct,
        latest.soh_basis_capacity_kwh,
        latest.last_calendar_age_days,
        recent_use.efc_per_day,
        fade.separable and fade.has_age as curved,
        case
            when fade.has_age then 1.0 / (2.0 * sqrt(latest.last_calendar_age_days)) else 1.0
        end as calendar_x_per_day,
        100.0 / latest.soh_basis_capacity_kwh * (
            fade.capacity_mean_kwh
            + case
                when fade.separable
                    then fade.cycle_kwh_per_efc * (latest.last_efc_cumulative - fade.efc_mean)
                        + fade.calendar_kwh_per_x * (
                            case
                                when fade.has_age then sqrt(latest.last_calendar_age_days)
                                else latest.last_age_days
                            end
                            - fade.calendar_x_mean
                        )
                else fade.time_slope_kwh_per_day * (latest.last_age_days - fade.age_mean_days)
            end
        ) as trend_soh_pct
    from fade
    inner join latest
        on fade.asset_id = latest.asset_id
    left join recent_use
        on fade.asset_id = recent_use.asset_id

),

rates as (

    -- Coefficients and rates in % of the basis capacity. fade_pct_per_year is the calendar rate at the
    -- asset's current age: c * dx/dt * 365.25.
    select
        *,
        100.0 * cycle_kwh_per_efc / soh_basis_capacity_kwh as cycle_pct_per_efc,
        100.0 * calendar_kwh_per_x / soh_basis_capacity_kwh as calendar_pct_per_x,
        100.0 * cycle_se_kwh_per_efc / soh_basis_capacity_kwh as cycle_se_pct_per_efc,
        100.0 * calendar_se_kwh_per_x / soh_basis_capacity_kwh as calendar_se_pct_per_x,
        100.0 * cycle_kwh_per_efc / soh_basis_capacity_kwh * 100 as cycle_pct_per_100_efc,
        100.0 * cycle_se_kwh_per_efc / soh_basis_capacity_kwh * 100 as cycle_se_pct_per_100_efc,
        100.0 * calendar_kwh_per_x * calendar_x_per_day / soh_basis_capacity_kwh * 365.25
            as calendar_pct_per_year,
        100.0 * calendar_se_kwh_per_x * calendar_x_per_day / soh_basis_capacity_kwh * 365.25
            as calendar_se_pct_per_year,
        100.0 / soh_basis_capacity_kwh * case
            when separable then cycle_kwh_per_efc * efc_per_day + calendar_kwh_per_x * calendar_x_per_day
            when n_windows >= {{ min_fit_windows }} then time_slope_kwh_per_day
        end as trend_pct_per_day,
        100.0 / soh_basis_capacity_kwh * case
            when separable
                then sqrt(greatest(
                        efc_per_day * efc_per_day * cycle_se_kwh_per_efc * cycle_se_kwh_per_efc
                        + power(calendar_x_per_day * calendar_se_kwh_per_x, 2)
                        + 2 * efc_per_day * calendar_x_per_day * cycle_calendar_covariance,
                        0
                    ))
            when n_windows >= {{ min_fit_windows }} then time_slope_se_kwh_per_day
        end as trend_se_pct_per_day
    from trend

),

end_of_life as (

    -- Days from the last estimate until the fitted model falls by trend_soh_pct - 80 points: on the square
    -- root of age a quadratic (macro days_to_fall), else a straight line. The range: on the curve each
    -- coefficient -+ battery_fade_credible_se standard errors (a fade cannot be a gain: at most 0, so the
    -- slow end is never where neither term is credibly negative); on the line the rate -+ that many.
    select
        *,
        trend_pct_per_day < 0
        and -trend_pct_per_day > {{ credible_se }} * trend_se_pct_per_day as trend_credible,
        least(last_soh_pct, trend_soh_pct) < 80 as already_below_80,
        case
            when curved
                then {{ days_to_fall(
                    'trend_soh_pct - 80', 'cycle_pct_per_efc * efc_per_day', 'calendar_pct_per_x',
                    'last_calendar_age_days') }}
            else (trend_soh_pct - 80) / nullif(-trend_pct_per_day, 0)
        end as days_to_80,
        case
            when curved
                then {{ days_to_fall(
                    'trend_soh_pct - 80',
                    'least(cycle_pct_per_efc - ' ~ credible_se ~ ' * cycle_se_pct_per_efc, 0) * efc_per_day',
                    'least(calendar_pct_per_x - ' ~ credible_se ~ ' * calendar_se_pct_per_x, 0)',
                    'last_calendar_age_days') }}
            else (trend_soh_pct - 80)
                / nullif({{ credible_se }} * trend_se_pct_per_day - trend_pct_per_day, 0)
        end as days_to_80_low,
        case
            when curved
                then {{ days_to_fall(
                    'trend_soh_pct - 80',
                    'least(cycle_pct_per_efc + ' ~ credible_se ~ ' * cycle_se_pct_per_efc, 0) * efc_per_day',
                    'least(calendar_pct_per_x + ' ~ credible_se ~ ' * calendar_se_pct_per_x, 0)',
                    'last_calendar_age_days') }}
            else (trend_soh_pct - 80)
                / nullif(-{{ credible_se }} * trend_se_pct_per_day - trend_pct_per_day, 0)
        end as days_to_80_high
    from rates

),

asset_health as (

    select
        asset_id,
        n_windows,
        separable,
        case when has_age then 'commissioned_on' else 'first_data' end as age_origin,
        case
            when separable and abs(cycle_pct_per_100_efc) > {{ credible_se }} * cycle_se_pct_per_100_efc
                then cycle_pct_per_100_efc
        end as fade_pct_per_100_efc,
        case when separable then cycle_se_pct_per_100_efc end as fade_se_pct_per_100_efc,
        case
            when n_windows < {{ min_fit_windows }} then 'fewer than {{ min_fit_windows }} fit windows'
            when not separable then 'EFC and age move together'
            when abs(cycle_pct_per_100_efc) <= {{ credible_se }} * cycle_se_pct_per_100_efc
                then 'within {{ credible_se }} standard errors of 0'
        end as fade_per_100_efc_null_reason,
        case
            when separable and abs(calendar_pct_per_year) > {{ credible_se }} * calendar_se_pct_per_year
                then calendar_pct_per_year
        end as fade_pct_per_year,
        case when separable then calendar_se_pct_per_year end as fade_se_pct_per_year,
        case
            when n_windows < {{ min_fit_windows }} then 'fewer than {{ min_fit_windows }} fit windows'
            when not separable then 'EFC and age move together'
            when abs(calendar_pct_per_year) <= {{ credible_se }} * calendar_se_pct_per_year
                then 'within {{ credible_se }} standard errors of 0'
        end as fade_per_year_null_reason,
        trend_pct_per_day,
        trend_se_pct_per_day,
        case
            when already_below_80 then 'below 80 % already'
            when trend_pct_per_day is null then 'fewer than {{ min_fit_windows }} fit windows'
            when
                not trend_credible
                then 'SoH trend not falling by more than {{ credible_se }} standard errors'
            when days_to_80_high is null or days_to_80_high > 36525 then 'beyond a century'
            else 'projected'
        end as projection_status,
        ({{ reference_time() }} at time zone 'UTC')::date as today_utc,
        last_estimate_day,
        days_to_80,
        days_to_80_low,
        days_to_80_high,
        already_below_80,
        trend_credible
    from end_of_life

),

final as (

    select
        with_soh.asset_id,
        with_soh.day_utc,
        with_soh.capacity_kwh,
        with_soh.n_steps_window as capacity_observations,
        with_soh.window_start,
        case when with_soh.window_start is not null then with_soh.day_utc end as window_end,
        with_soh.efc_window,
        with_soh.cell_temperature_mean_c,
        case when with_soh.capacity_kwh is not null then with_soh.capacity_25c_kwh end as capacity_25c_kwh,
        with_soh.nominal_capacity_kwh,
        with_soh.soh_basis,
        with_soh.soh_basis_capacity_kwh,
        with_soh.soh_basis_day,
        with_soh.soh_pct,
        with_soh.efc,
        with_soh.efc_cumulative,
        asset_health.fade_pct_per_100_efc,
        asset_health.fade_se_pct_per_100_efc,
        asset_health.fade_per_100_efc_null_reason,
        asset_health.fade_pct_per_year,
        asset_health.fade_se_pct_per_year,
        asset_health.fade_per_year_null_reason,
        asset_health.trend_pct_per_day as soh_trend_pct_per_day,
        asset_health.trend_se_pct_per_day as soh_trend_se_pct_per_day,
        coalesce(asset_health.n_windows, 0) as fade_observations,
        asset_health.age_origin,
        case
            when asset_health.already_below_80 then asset_health.today_utc
            when asset_health.projection_status = 'projected'
                then asset_health.last_estimate_day + ceil(asset_health.days_to_80)::integer
        end as projected_soh_80_date,
        case
            when asset_health.already_below_80 then asset_health.today_utc
            when asset_health.projection_status = 'projected'
                then asset_health.last_estimate_day + ceil(asset_health.days_to_80_low)::integer
        end as projected_soh_80_low_date,
        case
            when asset_health.already_below_80 then asset_health.today_utc
            when asset_health.projection_status = 'projected'
                then asset_health.last_estimate_day + ceil(asset_health.days_to_80_high)::integer
        end as projected_soh_80_high_date,
        coalesce(asset_health.projection_status, 'no capacity estimate') as projection_status
    from with_soh
    left join asset_health
        on with_soh.asset_id = asset_health.asset_id

)

select * from final
