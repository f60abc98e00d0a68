{#
    Energy per point of a cumulative counter (docs/domain.md), the one place that knows the rule:
    the step from the previous point when the counter grew; the value itself when it fell by more than
    reset_drop (a reset: the counter restarted from zero, so its new value is new energy); 0 for a smaller
    drop (noise). The first point of a series has no predecessor and carries 0. Returns a SQL expression
    with window functions, to select from a relation holding every point of each series.
#}
{% macro counter_delta(value, partition_by, order_by, reset_drop=none) %}
    {%- set drop = var('battery_counter_reset_drop') if reset_drop is none else reset_drop -%}
    {%- set previous = 'lag(' ~ value ~ ') over (partition by ' ~ partition_by | join(', ')
        ~ ' order by ' ~ order_by ~ ')' -%}
    case
        when {{ previous }} is null then 0.0
        when {{ value }} >= {{ previous }} then {{ value }} - {{ previous }}
        when {{ value }} < {{ previous }} * (1 - {{ drop }}) then {{ value }}
        else 0.0
    end
{%- endmacro %}


{% macro counter_is_reset(value, partition_by, order_by, reset_drop=none) %}
    {#- True on the point that follows a counter reset (see counter_delta). -#}
    {%- set drop = var('battery_counter_reset_drop') if reset_drop is none else reset_drop -%}
    {%- set previous = 'lag(' ~ value ~ ') over (partition by ' ~ partition_by | join(', ')
        ~ ' order by ' ~ order_by ~ ')' -%}
    coalesce({{ value }} < {{ previous }} * (1 - {{ drop }}), false)
{%- endmacro %}
