{#
    The tariff_windows seed as the meter models and its seed test read it: `weekdays` ('1|2|3', ISO
    weekday numbers) as an integer array and an open `valid_to` as infinity.
#}
{% macro tariff_windows() -%}
    select
        tariff_name,
        string_to_array(weekdays, '|')::integer[] as weekdays,
        local_start,
        local_end,
        valid_from,
        coalesce(valid_to, 'infinity'::date) as valid_to
    from {{ ref('tariff_windows') }}
{%- endmacro %}
