{#
    Incremental models that take in "what was loaded since the last build" read exactly the loads that
    ended since then, by the load log (ingest/loads.py): every row of one load carries the same loaded_at,
    loads of a vendor never overlap, and each is logged `running` until its last row is committed.
#}

{% macro unfinished_loads_start(source_name) -%}
    {#- SQL: the loaded_at of the oldest load of this source still running ('infinity' if none); every row
        loaded before it belongs to a load that has ended. -#}
    (
        select coalesce(min(loads.loaded_at), 'infinity'::timestamptz)
        from {{ source(source_name, '_gridhouse_loads') }} as loads
        where loads.status = 'running'
    )
{%- endmacro %}


{% macro loaded_since_last_build(source_name, loaded_at='loaded_at') -%}
    {#- SQL condition: the rows of the loads that ended since the newest loaded_at this model holds (every
        ended load on a full build). Rows of a load still running wait for the next build. -#}
    {{ loaded_at }} < {{ unfinished_loads_start(source_name) }}
    {%- if is_incremental() %}
        and {{ loaded_at }} > {{ lookback_start(this, 'loaded_at', 0) }}
    {%- endif %}
{%- endmacro %}
