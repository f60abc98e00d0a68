{#
    Decode a battery telemetry series name as the vendor publishes it, e.g. `GridImportKwh-mainmeter`:
    <quantity><unit suffix>[-<meter point>]. The unit lives only in the suffix; this macro is the one
    place that knows the suffixes. seeds/series_units.csv mirrors the table below for people and for
    the loader's quarantine check (tests/seeds/assert_series_units_seed_matches_macro.sql keeps them equal).

    Returns a dict of SQL expressions: quantity, unit_suffix, unit, meter_point (an unknown suffix gives
    null quantity, unit_suffix and unit: the loader quarantines those, the not_null test catches any left),
    plus suffix_units, the suffix table itself as a list of (suffix, unit) pairs.
#}
{% macro decode_series_name(column) %}
    {#- Longest first, for readability: the patterns are anchored, so order does not change the result. -#}
    {%- set suffix_units = [
        ('Percentage', '%'),
        ('Celsius', '°C'),
        ('Watt', 'W'),
        ('Kwh', 'kWh'),
        ('W', 'W'),
    ] -%}
    {%- set alternation = suffix_units | map(attribute=0) | join('|') -%}
    {#- The name without its `-<meter point>` qualifier. -#}
    {%- set base = "regexp_replace(" ~ column ~ ", '-[^-]*$', '')" -%}
    {%- set unit_suffix = "substring(" ~ base ~ " from '(" ~ alternation ~ ")$')" -%}
    {%- set unit_cases = [] -%}
    {%- for suffix, unit in suffix_units -%}
        {%- do unit_cases.append("when '" ~ suffix ~ "' then '" ~ unit ~ "'") -%}
    {%- endfor -%}
    {%- do return({
        'quantity': "substring(" ~ base ~ " from '^(.+?)(?:" ~ alternation ~ ")$')",
        'unit_suffix': unit_suffix,
        'unit': "case " ~ unit_suffix ~ " " ~ unit_cases | join(' ') ~ " end",
        'meter_point': "substring(" ~ column ~ " from '-([^-]+)$')",
        'suffix_units': suffix_units,
    }) -%}
{% endmacro %}
