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


{% macro ended_loads_before(source_name) -%}
    {#- Looked up when the model compiles, as a SQL literal: a time before which every `loaded_at` of this
        source belongs to a load that has ended (or to rows loaded without the log), for `loaded_at < it`.
        The loader holds the vendor's advisory lock for its whole run and takes its loaded_at after it has
        the lock, later than every loaded_at before. So if the lock is free now (held shared for this
        query), every load still to come stamps later than this moment; if a load holds it, the bound is
        just after the newest load that has ended. One literal serves every query of the model. -#}
    {%- if not execute -%}
        {{- return("'infinity'::timestamptz") -}}
    {%- endif -%}
    {%- set log = source(source_name, '_gridhouse_loads') -%}
    {%- set query -%}
        select
            case
                when pg_try_advisory_xact_lock_shared(hashtextextended('gridhouse load {{ log.schema }}', 0))
                    then clock_timestamp()
                else (
                    select max(loaded_at) + interval '1 microsecond'
                    from {{ log }}
                    where status <> 'running' and loaded_at < {{ unfinished_loads_start(source_name) }}
                )
            end
    {%- endset -%}
    {{- return(timestamptz_literal(run_query(query).columns[0].values()[0])) -}}
{%- endmacro %}


{% macro timestamptz_literal(value) -%}
    {#- A timestamptz from a query result as a SQL literal; '-infinity' for null. -#}
    {{- return("'-infinity'::timestamptz" if value is none else "'" ~ value.isoformat() ~ "'::timestamptz") -}}
{%- endmacro %}


{% macro loads_to_take_in(source_name, relation, time_column, built_through=none) -%}
    {#-
        Looked up when the model compiles, as SQL literals, so the planner sees real bounds (the raw tables'
        statistics never know the newest loads) and indexes and chunks prune:
        - ended_before: ended_loads_before(source_name), read `loaded_at < ended_before`;
        - built_through (incremental runs): the newest loaded_at the model holds, by the query
          `built_through` (default: max(loaded_at) of the model);
        - first (incremental runs): the earliest `time_column` of `relation` in the loads after
          built_through and before ended_before; null when there are none.
        A full build gets '-infinity' for both: it reads every load that has ended.
    -#}
    {%- set loads = {
        'ended_before': ended_loads_before(source_name),
        'built_through': "'-infinity'::timestamptz",
        'first': "'-infinity'::timestamptz",
    } -%}
    {%- if not (execute and is_incremental()) -%}
        {{- return(loads) -}}
    {%- endif -%}
    {%- set held = built_through or ('select max(loaded_at) from ' ~ this) -%}
    {%- do loads.update({'built_through': timestamptz_literal(run_query(held).columns[0].values()[0])}) -%}
    {%- set first -%}
        select min({{ time_column }})
        from {{ relation }}
        where loaded_at > {{ loads.built_through }} and loaded_at < {{ loads.ended_before }}
    {%- endset -%}
    {%- set earliest = run_query(first).columns[0].values()[0] -%}
    {%- do loads.update({'first': 'null::timestamptz' if earliest is none else timestamptz_literal(earliest)}) -%}
    {{- return(loads) -}}
{%- endmacro %}
