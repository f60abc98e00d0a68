{#
    The one incremental contract (docs/incremental.md). Every row a load writes carries the load's
    loaded_at; loads of a vendor never overlap and stamp in the order they run (ingest/loads.py), and each
    model row carries the newest loaded_at among the rows it was computed from. So a model has taken in
    every load up to the newest loaded_at it holds, and what it has still to take in is the range
    `taken_in < loaded_at <= newest ended load`: both bounds are scalar subqueries, visible in the lineage
    (stg_<vendor>__loads and the model itself), and a range of two bounds is what PostgreSQL's planner
    estimates as narrow, so the raw tables' BRIN index on _loaded_at (and the models' btree) serves it.
#}

{% macro loads_to_take_in(vendor, loaded_at='loaded_at', incremental=none) -%}
    {#- SQL condition on `loaded_at`: the rows of the ended loads of `vendor` that this model has not taken
        in yet (every ended load on a full build). A load still running waits for the next build.
        `incremental` says whether this run builds on the model's rows (default: builds_on_held_rows()). -#}
    {{ loaded_at }} > {{ taken_in(incremental) }}
    and {{ loaded_at }} <= (
        select coalesce(max(loads.loaded_at), {{ min_instant() }})
        from {{ ref('stg_' ~ vendor ~ '__loads') }} as loads
        where loads.has_ended
    )
{%- endmacro %}


{% macro taken_in(incremental=none) -%}
    {#- SQL timestamptz: the newest loaded_at this model holds, '-infinity' on a full build. -#}
    {%- if (builds_on_held_rows() if incremental is none else incremental) -%}
        (select coalesce(max(held.loaded_at), {{ min_instant() }}) from {{ this }} as held)
    {%- else -%}
        {{ min_instant() }}
    {%- endif -%}
{%- endmacro %}


{% macro touched_ranges(relation, vendor, keys, time_column) -%}
    {#- SQL select: per key of `relation`, the earliest and latest `time_column` among the rows of the loads
        this model has not taken in (loads_to_take_in), and the newest of those loads (`loaded_at`, what
        each recomputed row records as taken in). A model recomputes its buckets over these ranges. -#}
    select
        {{ keys | join(', ') }},
        min({{ time_column }}) as first_at,
        max({{ time_column }}) as last_at,
        max(loaded_at) as loaded_at
    from {{ relation }}
    where {{ loads_to_take_in(vendor) }}
    group by {{ keys | join(', ') }}
{%- endmacro %}


{% macro rows_in_ranges(relation, ranges, keys, time_column) -%}
    {#- SQL select: the rows of `relation` whose `keys` have a range in the CTE `ranges` (columns keys,
        read_from, read_until, loaded_at) and whose `time_column` lies in [read_from, read_until), with the
        range's loaded_at as `range_loaded_at`. On an incremental run a lateral read per range, so the time index serves each
        range however many rows the planner expects; a full build reads everything in one join. -#}
    {%- set matches = [] -%}
    {%- for key in keys -%}
        {%- do matches.append('rows_read.' ~ key ~ ' = ' ~ ranges ~ '.' ~ key) -%}
    {%- endfor -%}
    {%- do matches.append('rows_read.' ~ time_column ~ ' >= ' ~ ranges ~ '.read_from') -%}
    {%- do matches.append('rows_read.' ~ time_column ~ ' < ' ~ ranges ~ '.read_until') %}
    select
        rows_read.*,
        {{ ranges }}.loaded_at as range_loaded_at
    {%- if builds_on_held_rows() %}
    from {{ ranges }}
    cross join lateral (
        select *
        from {{ relation }} as rows_read
        where {{ matches | join(' and ') }}
        -- keeps the subquery from being flattened into a join the planner could hash over everything
        offset 0
    ) as rows_read
    {%- else %}
    from {{ relation }} as rows_read
    inner join {{ ranges }}
        on {{ matches | join(' and ') }}
    {%- endif %}
{%- endmacro %}


{% macro load_log(vendor) -%}
    {#- The select of stg_<vendor>__loads: one row per load of the vendor, from its load log (a source). -#}
    with

    source as (

        select * from {{ source(vendor, '_gridhouse_loads') }}

    ),

    final as (

        select
            loaded_at,
            finished_at,
            status,
            -- A load still running (or dead and not yet found by the next load) has rows to come.
            status <> 'running' as has_ended,
            files,
            read,
            loaded,
            corrected,
            quarantined,
            -- A recovery: the dead load whose rows it finished (they carry this load's loaded_at now).
            recovers
        from source

    )

    select * from final
{%- endmacro %}


{% macro builds_on_held_rows() -%}
    {#- Whether this run builds on the rows the model holds: dbt's is_incremental(), which knows only the
        materialization named `incremental`, extended to `incremental_in_place` (same test). -#}
    {%- if model.config.materialized != 'incremental_in_place' -%}
        {{- return(is_incremental()) -}}
    {%- endif -%}
    {%- if not execute -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set relation = adapter.get_relation(this.database, this.schema, this.table) -%}
    {{- return(relation is not none and relation.type == 'table' and not should_full_refresh()) -}}
{%- endmacro %}
