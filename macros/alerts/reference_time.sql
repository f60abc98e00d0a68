{#
    "Now" for staleness (alert views, fleet_energy_now): the database clock, or var('reference_time') to
    replay another moment (tests, backfills). Views evaluate it at query time, so a poll always compares
    with the clock of that poll.
#}
{% macro reference_time() -%}
    {%- set at = var('reference_time', none) -%}
    {%- if at is none or at == '' -%}
        now()
    {%- else -%}
        '{{ at }}'::timestamptz
    {%- endif -%}
{%- endmacro %}


{% macro future_limit() -%}
    {#- The latest plausible reading time: now plus var('future_tolerance_minutes'). A reading dated later
        is a clock set wrong: it never counts as fresh, nor moves anyone's "now". -#}
    ({{ reference_time() }} + interval '{{ var("future_tolerance_minutes", 60) }} minutes')
{%- endmacro %}
