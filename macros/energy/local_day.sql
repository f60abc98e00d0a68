{#
    The number of quarter-hours in the local calendar day `date_expr` in time zone `tz` (a SQL expression
    of a text time zone name): the span from that local midnight to the next one, taken in UTC, so the
    spring DST day gives 92, the autumn one 100 and every other day 96. Never a fixed offset.
#}
{% macro local_day_quarter_hours(date_expr, tz) -%}
    (extract(epoch from (
        (({{ date_expr }}) + 1)::timestamp at time zone {{ tz }}
        - ({{ date_expr }})::timestamp at time zone {{ tz }}
    )) / 900)::integer
{%- endmacro %}
