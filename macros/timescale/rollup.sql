{#
    Rollups: one model, two engines. A model with materialized='rollup' is a single
    `select <bucket>, <keys>, <aggregates> from <source> group by ...` (no CTEs: it must also be a valid
    continuous aggregate). With TimescaleDB it becomes a continuous aggregate (real-time, with a refresh
    policy and, when retention_days is set, a retention policy); a rollup of a rollup is a hierarchical
    continuous aggregate. On plain PostgreSQL it is dbt's incremental delete+insert table that recomputes
    the buckets the source rows of the loads it has not taken in fall in (loads_to_take_in), of those keys
    only; `gridhouse prune` applies the retention there.

    Model config:
      time_column      the bucket column the model selects first (e.g. local_hour)
      source_time      the source's time column the bucket is taken of (e.g. local_measured_at)
      bucket_width     '1 hour', '1 day' or '1 month'
      unique_key       the bucket column and the group keys
      retention_days   keep this many days (TimescaleDB policy; prune reads the same var), none = forever
      refresh_start    TimescaleDB refresh policy window start (an interval shorter than the source's
                       retention, so a refresh never recomputes a bucket whose source rows were dropped)
      refresh_every    TimescaleDB refresh policy schedule
      source_model     the model the rollup selects from (its refresh window starts where that
                       model's rows are whole)
#}

{% macro rollup_bucket(width, column) -%}
    {#- The bucket a time falls in: time_bucket with TimescaleDB (continuous aggregates need it),
        date_trunc on plain PostgreSQL. Both agree for timestamps without time zone. -#}
    {%- set units = {'1 hour': 'hour', '1 day': 'day', '1 month': 'month'} -%}
    {%- if width not in units -%}
        {%- do exceptions.raise_compiler_error(
            "rollup_bucket: width must be one of " ~ (units.keys() | list) ~ ", got " ~ width
        ) -%}
    {%- endif -%}
    {%- if timescale_enabled() -%}
        time_bucket(interval '{{ width }}', {{ column }})
    {%- else -%}
        date_trunc('{{ units[width] }}', {{ column }})
    {%- endif -%}
{%- endmacro %}


{% macro last_by(value, order_by) -%}
    {#- Aggregate: `value` of the group's row with the greatest `order_by` (null when that row's is). -#}
    {%- if timescale_enabled() -%}
        last({{ value }}, {{ order_by }})
    {%- else -%}
        ((array_agg({{ value }} order by {{ order_by }} desc))[1])
    {%- endif -%}
{%- endmacro %}


{% macro rollup_is_incremental() %}
    {#- True on plain PostgreSQL when the rollup table exists and this is not a full refresh. -#}
    {%- if not execute or timescale_enabled() -%}
        {%- do return(false) -%}
    {%- endif -%}
    {%- set relation = load_cached_relation(this) -%}
    {%- do return(relation is not none and relation.is_table and not should_full_refresh()) -%}
{% endmacro %}


{% macro rollup_safe_start(source, source_time, width) -%}
    {#-
        SQL: the first bucket a run may recompute. Retention removes the source's oldest rows; once the
        rollup holds buckets older than the oldest source row, the buckets near the source's horizon are
        complete only in the rollup. Homes' local times differ from UTC by -12 to +14 hours and retention
        cuts by UTC or by local time, so a bucket is trusted to be whole only from 26 hours after the oldest
        source row. While the source still reaches back as far as the rollup: '-infinity'.
    -#}
    {%- set unit = {'1 hour': 'hour', '1 day': 'day', '1 month': 'month'}[width] -%}
    (
        select
            case
                when (select min(built.{{ config.require('time_column') }}) from {{ this }} as built)
                    < date_trunc('{{ unit }}', oldest.source_time)
                    then date_trunc(
                        '{{ unit }}',
                        oldest.source_time + interval '26 hours' + interval '{{ width }}' - interval '1 microsecond'
                    )
                else '-infinity'::timestamp
            end
        -- a plain min() of its own, so the source's time index answers it with one probe
        from (select min({{ source_time }}) as source_time from {{ source }}) as oldest
    )
{%- endmacro %}


{% macro rollup_where(vendor) -%}
    {#-
        The rollup's WHERE clause (`vendor`: whose load log, stg_<vendor>__loads, says which loads ended):
        empty unless this is an incremental run on plain PostgreSQL. Then it keeps the source rows of the
        (keys, bucket) pairs that the rows of the loads the rollup has not taken in fall in, each pair read
        as a range of the source's time (so its index serves it), and never before rollup_safe_start.
        Source rows are re-aggregated whole per bucket, so delete+insert on the unique key replaces exactly
        those buckets.
    -#}
    {%- set incremental = rollup_is_incremental() -%}
    {#- Rendered on every run, so dbt sees the load log among the model's inputs. -#}
    {%- set new_rows = loads_to_take_in(vendor, 'fresh.loaded_at', incremental) -%}
    {%- if incremental -%}
        {%- set width = config.require('bucket_width') -%}
        {%- set source = ref(config.require('source_model')) -%}
        {%- set source_time = config.require('source_time') -%}
        {%- set keys = config.require('unique_key') | reject('equalto', config.require('time_column')) | list -%}
        {%- set touched -%}
            select distinct
                {%- for key in keys %}
                fresh.{{ key }},
                {%- endfor %}
                {{ rollup_bucket(width, 'fresh.' ~ source_time) }} as bucket_start
            from {{ source }} as fresh
            where {{ new_rows }}
        {%- endset %}
        where
            exists (
                select 1
                from ({{ touched }}) as touched
                where
                    {%- for key in keys %}
                    touched.{{ key }} = {{ source.identifier }}.{{ key }} and
                    {%- endfor %}
                    {{ source.identifier }}.{{ source_time }} >= touched.bucket_start
                    and {{ source.identifier }}.{{ source_time }} < touched.bucket_start + interval '{{ width }}'
            )
            -- the span of the touched buckets as two scalar bounds, which the source's time index serves
            and {{ source_time }} >= (select min(touched.bucket_start) from ({{ touched }}) as touched)
            and {{ source_time }} < (
                select max(touched.bucket_start) + interval '{{ width }}' from ({{ touched }}) as touched
            )
            and {{ source_time }} >= {{ rollup_safe_start(source, source_time, width) }}
    {%- endif -%}
{%- endmacro %}


{% materialization rollup, adapter='postgres' %}
    {%- if timescale_enabled() -%}
        {{ return(continuous_aggregate_materialization()) }}
    {%- endif -%}
    {#- Plain PostgreSQL: dbt's own incremental materialization (delete+insert on unique_key). -#}
    {%- set result = dbt.materialization_incremental_default() -%}
    {%- set relation = this.incorporate(type='table') -%}
    {%- call statement('rollup_indexes') -%}
        {{ ensure_index(relation, config.require('unique_key'), unique=true) }}
        {{ ensure_index(relation, [config.require('time_column')], using='brin') }}
        {{ ensure_index(relation, ['loaded_at'], using='brin') }}
    {%- endcall -%}
    {%- do adapter.commit() -%}
    {{ return(result) }}
{% endmaterialization %}


{% macro continuous_aggregate_materialization() %}
    {#-
        TimescaleDB: create the continuous aggregate when it is missing or its definition changed (a
        comment on the view holds the definition's md5; a changed one is dropped with its dependants,
        which are downstream and rebuilt by this same run), add the policies, then refresh it outside a
        transaction (the profile sets autocommit: true): everything on first creation, afterwards from
        the first bucket the source still holds whole, so retention never shrinks a materialized bucket.
    -#}
    {%- set target = this.incorporate(type='view') -%}
    {%- set existing = load_cached_relation(this) -%}
    {%- set fingerprint = 'gridhouse rollup ' ~ local_md5(sql) -%}
    {%- set width = config.require('bucket_width') -%}
    {%- set retention_days = config.get('retention_days') -%}
    {%- set created = false -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if existing is not none -%}
        {#- A continuous aggregate shows as a view; its comment holds the definition's fingerprint. -#}
        {%- set stored = run_query(
            "select coalesce(max(obj_description(format('%I.%I', view_schema, view_name)::regclass, 'pg_class')), '')"
            ~ " from timescaledb_information.continuous_aggregates"
            ~ " where view_schema = " ~ dbt.string_literal(existing.schema)
            ~ " and view_name = " ~ dbt.string_literal(existing.identifier)
        ).columns[0].values()[0] -%}
        {%- if stored != fingerprint or should_full_refresh() -%}
            {{ log("Creating continuous aggregate " ~ target ~ " anew: its definition changed", info=true) }}
            {%- call statement('drop_rollup') -%}
                {%- if stored -%}
                    drop materialized view if exists {{ existing }} cascade
                {%- else -%}
                    drop {{ existing.type }} if exists {{ existing }} cascade
                {%- endif -%}
            {%- endcall -%}
            {%- set existing = none -%}
        {%- endif -%}
    {%- endif -%}

    {%- if existing is none -%}
        {%- set created = true -%}
        {%- call statement('main') -%}
            create materialized view {{ target }}
            with (timescaledb.continuous, timescaledb.materialized_only = false) as
            {{ sql }}
            with no data;
            comment on view {{ target }} is {{ dbt.string_literal(fingerprint) }};
        {%- endcall -%}
    {%- else -%}
        {%- call statement('main') -%}
            select 1
        {%- endcall -%}
    {%- endif -%}

    {%- call statement('rollup_policies') -%}
        select add_continuous_aggregate_policy(
            '{{ target }}'::regclass,
            start_offset => interval '{{ config.require("refresh_start") }}',
            end_offset => interval '{{ width }}',
            schedule_interval => interval '{{ config.get("refresh_every", "1 hour") }}',
            if_not_exists => true
        );
        {{ device_retention_policy(target, config.require('time_column'), retention_days) }};
    {%- endcall -%}

    {{ run_hooks(post_hooks, inside_transaction=True) }}

    {%- set window_start = 'null' -%}
    {%- if not created -%}
        {%- set source = ref(config.require('source_model')) -%}
        {%- set start = run_query(
            "select " ~ rollup_safe_start(source, config.require('source_time'), width) ~ "::text"
        ).columns[0].values()[0] -%}
        {%- if start is not none and start != '-infinity' -%}
            {%- set window_start = dbt.string_literal(start) ~ '::timestamp' -%}
        {%- endif -%}
    {%- endif -%}
    {%- do adapter.commit() -%}

    {#- refresh_continuous_aggregate cannot run in a transaction block: auto_begin=False on an
        autocommit connection (profiles.yml sets autocommit: true) runs it on its own. -#}
    {%- call statement('refresh_rollup', auto_begin=False) -%}
        call refresh_continuous_aggregate('{{ target }}'::regclass, {{ window_start }}, null)
    {%- endcall -%}

    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target]}) }}
{% endmacro %}
