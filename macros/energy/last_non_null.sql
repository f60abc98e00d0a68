{#
    Aggregate expression: the last non-null `value` of the group in the order of `order_by` (e.g. the state
    of charge at the end of a period).
#}
{% macro last_non_null(value, order_by) -%}
    ((array_agg({{ value }} order by {{ order_by }} desc) filter (where {{ value }} is not null))[1])
{%- endmacro %}
