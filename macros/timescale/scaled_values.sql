{#
    Decimal values stored as scaled integers, losslessly. A vendor's value with at most `decimals` decimals
    (kWh with 2, W with 0) is the integer round(value * 10^decimals): TimescaleDB compresses a bigint
    column with delta-of-delta + simple-8b, where the double's Gorilla XOR leaves most mantissa bits of a
    short decimal different (docs/scaling.md). A value the integer does not reproduce bit for bit (more
    decimals than the scale, beyond 2^53, NaN, infinity, -0) is also kept whole in a double column that is
    null otherwise (nulls cost nothing, compressed or not), so nothing is ever rounded. Reading back:
    scaled_value(). The check and the read use the same expression, so what is read is what was written.
#}

{% macro decimals_for(unit_column, decimals_by_unit, default_decimals=3) -%}
    {#- SQL smallint: the decimals a unit's values are scaled by, from a {unit: decimals} map. -#}
    (case {{ unit_column }}
    {%- for unit, decimals in decimals_by_unit.items() %}
        when {{ dbt.string_literal(unit) }} then {{ decimals | int }}
    {%- endfor %}
        else {{ default_decimals | int }}
    end)::smallint
{%- endmacro %}


{% macro scaled_integer(value, decimals) -%}
    {#- SQL bigint: value * 10^decimals rounded; null where that is not an exact double integer (|x| >= 2^53,
        NaN, infinity). -#}
    (
        case
            when abs({{ value }}) * power(10::double precision, {{ decimals }}) < 9007199254740992
                then round({{ value }} * power(10::double precision, {{ decimals }}))::bigint
        end
    )
{%- endmacro %}


{% macro unscaled(scaled, decimals) -%}
    {#- SQL double precision: a scaled integer divided back (IEEE division: the double nearest the decimal). -#}
    ({{ scaled }}::double precision / power(10::double precision, {{ decimals }}))
{%- endmacro %}


{% macro scaled_remainder(value, decimals) -%}
    {#- SQL double precision: null when scaled_integer reproduces value exactly (sign of zero included),
        else value itself. -#}
    (
        case
            when
                {{ unscaled(scaled_integer(value, decimals), decimals) }} = {{ value }}
                and not ({{ value }} = 0 and {{ value }}::text like '-%')
                then null
            else {{ value }}
        end
    )
{%- endmacro %}


{% macro scaled_value(scaled, decimals, exact) -%}
    {#- SQL double precision: the stored value back, exactly as it was written. -#}
    coalesce({{ exact }}, {{ unscaled(scaled, decimals) }})
{%- endmacro %}
