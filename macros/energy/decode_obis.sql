{#
    Decode an OBIS code written as 12 hex digits (`0100011D00FF` = bytes A B C D E F) per IEC 62056-61.
    C (3rd byte) is the quantity and direction: 1 / 2 = active import / export, 3 / 4 = reactive
    import / export, 16 = net active. D (4th byte) is the processing: 29 = energy per measuring period
    (here 15 minutes), 8 = cumulative register, 7 = instantaneous power.

    Returns a dict of SQL expressions: obis_id (`1-0:1.29.0*255`), value_group_c, value_group_d, direction,
    quantity, unit and interval_minutes. Codes outside that table give null direction / quantity / unit.
#}
{% macro decode_obis(column) %}
    {%- set groups = [] -%}
    {%- for position in [1, 3, 5, 7, 9, 11] -%}
        {%- do groups.append("('x' || substr(" ~ column ~ ", " ~ position ~ ", 2))::bit(8)::integer") -%}
    {%- endfor -%}
    {%- set c = groups[2] -%}
    {%- set d = groups[3] -%}
    {%- set quantity -%}
        case
            when {{ c }} in (1, 2, 16) and {{ d }} in (8, 29) then 'active_energy'
            when {{ c }} in (3, 4) and {{ d }} in (8, 29) then 'reactive_energy'
            when {{ c }} in (1, 2, 16) and {{ d }} = 7 then 'active_power'
            when {{ c }} in (3, 4) and {{ d }} = 7 then 'reactive_power'
        end
    {%- endset -%}
    {%- do return({
        'obis_id': "format('%s-%s:%s.%s.%s*%s', " ~ groups | join(', ') ~ ")",
        'value_group_c': c,
        'value_group_d': d,
        'direction': "case when " ~ c ~ " in (1, 3) then 'import' when " ~ c ~ " in (2, 4) then 'export'"
            ~ " when " ~ c ~ " = 16 then 'net' end",
        'quantity': quantity | trim,
        'unit': "case " ~ quantity | trim ~ " when 'active_energy' then 'kWh' when 'reactive_energy' then 'kvarh'"
            ~ " when 'active_power' then 'W' when 'reactive_power' then 'var' end",
        'interval_minutes': "case when " ~ d ~ " = 29 then 15 end",
    }) -%}
{% endmacro %}
