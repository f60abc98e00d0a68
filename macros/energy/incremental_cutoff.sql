{#
    The loaded_at an incremental run re-reads from: on an incremental run, the newest loaded_at the model
    already holds minus `lookback_hours`; on a full build '-infinity' (everything). A SQL expression.
#}
{% macro loaded_after_lookback(lookback_hours) -%}
    {%- if is_incremental() -%}
        (select max(built.loaded_at) - interval '{{ lookback_hours }} hours' from {{ this }} as built)
    {%- else -%}
        '-infinity'::timestamptz
    {%- endif -%}
{%- endmacro %}
