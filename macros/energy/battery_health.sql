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
