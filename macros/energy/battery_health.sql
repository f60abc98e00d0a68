{% macro capacity_from_sums(sxx, syy, sxy, sxz, syz) -%}
    {#- Capacity (kWh) from the sums of a window's SoC steps: least squares without intercept of
        delta SoC = a * charged - b * discharged, a = 100 * eta / C and b = 100 / (eta * C) (stored energy moves
        by eta = sqrt(round-trip efficiency) each way), so C = 100 / sqrt(a * b) whatever eta is. Null when a
        or b is not positive (no charge or no discharge in the window). -#}
    case
        when
            ({{ sxy }} * {{ syz }} - {{ sxz }} * {{ syy }}) / nullif({{ sxy }} * {{ sxy }} - {{ sxx }} * {{ syy }}, 0) > 0
            and ({{ sxx }} * {{ syz }} - {{ sxy }} * {{ sxz }}) / nullif({{ sxy }} * {{ sxy }} - {{ sxx }} * {{ syy }}, 0) > 0
            then 100.0 / sqrt(
                ({{ sxy }} * {{ syz }} - {{ sxz }} * {{ syy }}) / ({{ sxy }} * {{ sxy }} - {{ sxx }} * {{ syy }})
                * (({{ sxx }} * {{ syz }} - {{ sxy }} * {{ sxz }}) / ({{ sxy }} * {{ sxy }} - {{ sxx }} * {{ syy }}))
            )
    end
{%- endmacro %}

{% macro days_to_fall(fall, per_day, per_sqrt_day, age_days) -%}
    {#- Days t until per_day * t + per_sqrt_day * (sqrt(age_days + t) - sqrt(age_days)) = -fall (SoH falling
        by `fall` points: cycle ageing linear in time at a constant EFC rate, calendar ageing in the square
        root of age). With s = sqrt(age_days + t) it is the quadratic per_day * s^2 + per_sqrt_day * s + g = 0,
        g = fall - per_day * age_days - per_sqrt_day * sqrt(age_days); its first root at or after
        sqrt(age_days) is s = 2g / (-per_sqrt_day + sqrt(per_sqrt_day^2 - 4 per_day g)) (the form without
        cancellation, and valid when per_day is 0). Null when the curve never falls that far. -#}
    case
        when
            power({{ per_sqrt_day }}, 2) - 4 * ({{ per_day }}) * (
                ({{ fall }}) - ({{ per_day }}) * ({{ age_days }}) - ({{ per_sqrt_day }}) * sqrt({{ age_days }})
            ) >= 0
            and -({{ per_sqrt_day }}) + sqrt(power({{ per_sqrt_day }}, 2) - 4 * ({{ per_day }}) * (
                ({{ fall }}) - ({{ per_day }}) * ({{ age_days }}) - ({{ per_sqrt_day }}) * sqrt({{ age_days }})
            )) > 0
            then power(
                2 * (({{ fall }}) - ({{ per_day }}) * ({{ age_days }}) - ({{ per_sqrt_day }}) * sqrt({{ age_days }}))
                / (-({{ per_sqrt_day }}) + sqrt(power({{ per_sqrt_day }}, 2) - 4 * ({{ per_day }}) * (
                    ({{ fall }}) - ({{ per_day }}) * ({{ age_days }}) - ({{ per_sqrt_day }}) * sqrt({{ age_days }})
                ))),
                2
            ) - ({{ age_days }})
    end
{%- endmacro %}
