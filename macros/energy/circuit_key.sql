{#
    The surrogate key of a circuit: md5 of `<sensor_id>|<circuit_number>` (text). Deterministic, so it is
    the same on every load and database although the vendor's own circuit ids are random.
#}
{% macro circuit_surrogate_key(sensor_id, circuit_number) -%}
    md5(({{ sensor_id }})::text || '|' || ({{ circuit_number }})::text)
{%- endmacro %}
