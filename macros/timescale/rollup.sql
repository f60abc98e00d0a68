{#
    Rollups: one model, two engines. A model with materialized='rollup' is a single
    `select <bucket>, <keys>, <aggregates> from <source> group by ...` (no CTEs: it must also be a valid
    continuous aggregate). With TimescaleDB it becomes a continuous aggregate (real-time, with a refresh
    policy), and it schedules the retention of its source, which may drop only what it has materialized
    (macros/timescale/retention_tiers.sql); a rollup of a rollup is a hierarchical continuous aggregate.
    On plain PostgreSQL it is dbt's incremental delete+insert table that recomputes the buckets the source
    rows of the loads it has not taken in fall in (loads_to_take_in), of those keys only; `gridhouse
    prune` applies the retention there.

    Model config:
      time_column            the bucket column the model selects first (e.g. local_hour)
      source_time            the source's time column the bucket is taken of (e.g. local_measured_at)
      bucket_width           '1 hour', '1 day' or '1 month'
      unique_key             the bucket column and the group keys
      source_model           the model the rollup selects from
      source_retention_days  TimescaleDB: days the source keeps (its tier's var), none = forever; dropped
                             by a job this rollup schedules after its first refresh, never before the rollup
                             has materialized them (prune reads the same var on plain PostgreSQL)
      source_is_incremental  TimescaleDB: the source is an incremental table whose newest loaded_at is its
                             memory (fct_device_readings): its retention keeps the newest load's chunks
      source_compress_after  TimescaleDB: the source hypertable's compression policy, added here after
                             the first refresh (optional)
      retention_days         the top tier only (nothing rolls it up further): its own retention, none = forever
      rows_column            TimescaleDB: the column counting the source rows of a bucket (readings)
      source_rows            TimescaleDB: the same count as an aggregate over the source (count(*), or
                             sum(readings) over a rollup): a bucket held from more rows than the source
                             still has is never refreshed
      refresh_start          TimescaleDB refresh policy window start: shorter than source_retention_days
                             (checked), so a policy refresh never covers dropped source chunks
      refresh_every          TimescaleDB refresh policy schedule
      indexes                dbt's own indexes config ({'columns': [...], 'unique': bool}), kept on both
                             engines: on the table, or on the continuous aggregate's materialization
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
    {{- return(adapter.dispatch('rollup_bucket', 'gridhouse')(width, units[width], column)) -}}
{%- endmacro %}

{% macro default__rollup_bucket(width, unit, column) -%}
    {%- if timescale_enabled() -%}
        time_bucket(interval '{{ width }}', {{ column }})
    {%- else -%}
        date_trunc('{{ unit }}', {{ column }})
    {%- endif -%}
{%- endmacro %}


{% macro last_by(value, order_by) -%}
    {#- Aggregate: `value` of the group's row with the greatest `order_by` (null when that row's is). -#}
    {{- return(adapter.dispatch('last_by', 'gridhouse')(value, order_by)) -}}
{%- endmacro %}

{% macro default__last_by(value, order_by) -%}
    {%- if timescale_enabled() -%}
        last({{ value }}, {{ order_by }})
    {%- else -%}
        ((array_agg({{ value }} order by {{ order_by }} desc))[1])
    {%- endif -%}
{%- endmacro %}


{% macro rollup_is_incremental() %}
    {#- True on plain PostgreSQL or Spark when the rollup table exists and this is not a full refresh. -#}
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
        {{- return(adapter.dispatch('rollup_touched', 'gridhouse')(new_rows)) -}}
    {%- endif -%}
{%- endmacro %}

{% macro default__rollup_touched(new_rows) -%}
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
        {%- for index in config.get('indexes', []) %}
        {{ ensure_index(relation, index['columns'], unique=index.get('unique', false)) }}
        {%- endfor %}
    {%- endcall -%}
    {%- do adapter.commit() -%}
    {{ return(result) }}
{% endmaterialization %}


{% macro continuous_aggregate_materialization() %}
    {#-
        TimescaleDB: create the continuous aggregate when it is missing or its definition changed (a
        comment on its materialization hypertable holds the definition's md5, so the view's own comment
        is free for its description, persist_docs; a changed one is dropped with its dependants,
        which are downstream and rebuilt by this same run), refresh it outside a transaction (the profile
        sets autocommit: true), and only then add the policies: a scheduler runs a policy as soon as it
        exists, so created earlier they would drop or compress what this refresh has still to read.

        First creation refreshes everything the source holds. Later runs refresh the buckets that the
        source rows of the loads this aggregate has not taken in fall in, each run of adjacent buckets as
        one window (rollup_refresh_windows): never a window over a range whose source rows retention has
        dropped (a refresh there would empty the aggregate: TimescaleDB logs every dropped chunk as a
        change). What it has taken in is kept in the same comment ("taken_in=..."), not read off its
        loaded_at column, because the refresh policy also writes rows, of recent buckets only: a load
        whose rows it materialized may still have older rows to take in.
    -#}
    {%- set target = this.incorporate(type='view') -%}
    {%- set existing = load_cached_relation(this) -%}
    {%- set fingerprint = 'gridhouse rollup ' ~ local_md5(sql) -%}
    {%- set width = config.require('bucket_width') -%}
    {%- set time_column = config.require('time_column') -%}
    {%- set source = ref(config.require('source_model')) -%}
    {%- set source_time = config.require('source_time') -%}
    {%- set source_retention_days = config.get('source_retention_days') -%}
    {%- set refresh_start = config.require('refresh_start') -%}
    {%- if source_retention_days is not none and refresh_start.endswith(' days')
            and refresh_start.split(' ')[0] | int >= source_retention_days | int -%}
        {#- A refresh policy reaching where the source's chunks are dropped would empty those buckets. -#}
        {%- do exceptions.raise_compiler_error(
            this.identifier ~ ": refresh_start " ~ refresh_start ~ " must be shorter than the source's retention ("
            ~ source_retention_days ~ " days)"
        ) -%}
    {%- endif -%}
    {%- set taken_in = none -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if existing is not none -%}
        {#- A continuous aggregate shows as a view; the comment on its materialization hypertable holds the
            definition's fingerprint (one made before persist_docs kept it on the view: still read there). -#}
        {%- set found = run_query(
            "select count(*) > 0, coalesce(max(coalesce("
            ~ "nullif(obj_description(format('%I.%I', materialization_hypertable_schema,"
            ~ " materialization_hypertable_name)::regclass, 'pg_class'), ''),"
            ~ " case when obj_description(format('%I.%I', view_schema, view_name)::regclass, 'pg_class')"
            ~ " like 'gridhouse rollup %' then obj_description(format('%I.%I', view_schema, view_name)::regclass,"
            ~ " 'pg_class') end)), '')"
            ~ " from timescaledb_information.continuous_aggregates"
            ~ " where view_schema = " ~ dbt.string_literal(existing.schema)
            ~ " and view_name = " ~ dbt.string_literal(existing.identifier)
        ).rows[0] -%}
        {%- set is_aggregate, stored = found[0], found[1] -%}
        {%- set stored_parts = stored.split(' taken_in=') -%}
        {%- if stored_parts[0] != fingerprint or should_full_refresh() -%}
            {{ log("Creating continuous aggregate " ~ target ~ " anew: its definition changed", info=true) }}
            {%- call statement('drop_rollup') -%}
                {%- if is_aggregate -%}
                    drop materialized view if exists {{ existing }} cascade
                {%- else -%}
                    drop {{ existing.type }} if exists {{ existing }} cascade
                {%- endif -%}
            {%- endcall -%}
            {%- set existing = none -%}
        {%- elif stored_parts | length > 1 -%}
            {%- set taken_in = stored_parts[1] -%}
        {%- endif -%}
    {%- endif -%}

    {%- if existing is none -%}
        {%- call statement('main') -%}
            create materialized view {{ target }}
            with (timescaledb.continuous, timescaledb.materialized_only = false) as
            {{ sql }}
            with no data;
            -- serves the next tier's "what is new" (rollup_refresh_windows) and its retention job's check
            create index if not exists {{ target.identifier }}__loaded_at on {{ target }} (loaded_at);
        {%- endcall -%}
    {%- else -%}
        {%- call statement('main') -%}
            select 1
        {%- endcall -%}
    {%- endif -%}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {%- do adapter.commit() -%}

    {%- set materialized = run_query(
        "select format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)"
        ~ " from timescaledb_information.continuous_aggregates"
        ~ " where view_schema = " ~ dbt.string_literal(target.schema)
        ~ " and view_name = " ~ dbt.string_literal(target.identifier)
    ).columns[0].values()[0] -%}
    {%- if existing is none -%}
        {%- call statement('rollup_fingerprint') -%}
            comment on table {{ materialized }} is {{ dbt.string_literal(fingerprint) }}
        {%- endcall -%}
        {%- do adapter.commit() -%}
    {%- endif -%}

    {#- Where no scheduler runs (PGlite), the tests run the policies here, between two models. -#}
    {{ run_policy_jobs_in_build() }}
    {%- set plan = run_query(rollup_refresh_windows(
        materialized, source, source_time, time_column, width,
        config.require('unique_key') | reject('equalto', time_column) | list,
        config.require('rows_column'), config.require('source_rows'), taken_in, existing is none
    )) -%}
    {%- set newest = plan.columns[0].values()[0] -%}
    {#- refresh_continuous_aggregate cannot run in a transaction block: auto_begin=False on an
        autocommit connection (profiles.yml sets autocommit: true) runs it on its own. -#}
    {%- for window in plan.rows if window[1] is not none or existing is none -%}
        {%- call statement('refresh_rollup_' ~ loop.index, auto_begin=False) -%}
            {%- if existing is none %}
            call refresh_continuous_aggregate('{{ target }}'::regclass, null, null)
            {%- else %}
            call refresh_continuous_aggregate(
                '{{ target }}'::regclass, {{ dbt.string_literal(window[1]) }}::timestamp,
                {{ dbt.string_literal(window[2]) }}::timestamp
            )
            {%- endif -%}
        {%- endcall -%}
    {%- endfor -%}

    {#- After the refresh: the policies, and what this run has taken in. -#}
    {%- call statement('rollup_policies') -%}
        select add_continuous_aggregate_policy(
            '{{ target }}'::regclass,
            start_offset => interval '{{ refresh_start }}',
            end_offset => interval '{{ width }}',
            schedule_interval => interval '{{ config.get("refresh_every", "1 hour") }}',
            if_not_exists => true
        );
        {%- if config.get('source_compress_after') %}
        select add_compression_policy(
            '{{ source }}'::regclass,
            compress_after => interval '{{ config.get("source_compress_after") }}',
            if_not_exists => true
        );
        {%- endif %}
        {{ tier_retention_policy(
            source, source_time, source_retention_days, reader=target, reader_time=time_column,
            keys=config.require('unique_key') | reject('equalto', time_column) | list, width=width,
            keep_newest_load=config.get('source_is_incremental', false)
        ) }}
        {%- if config.get('retention_days', 'unset') != 'unset' %}
        {#- The top tier: no rollup reads it, so its own retention (none: forever) drops unguarded. -#}
        {{ tier_retention_policy(target, time_column, config.get('retention_days')) }}
        {%- endif %}
        {#- dbt's indexes config: on the materialization hypertable (named, so a rerun finds it) -#}
        {%- for index in config.get('indexes', []) %}
        create {{ 'unique ' if index.get('unique', false) }}index if not exists
            {{ target.identifier }}__{{ index['columns'] | join('_') }} on {{ target }} ({{ index['columns'] | join(', ') }});
        {%- endfor %}
        {%- set held = newest if newest is not none else taken_in %}
        comment on table {{ materialized }} is {{ dbt.string_literal(
            fingerprint ~ ((' taken_in=' ~ held) if held is not none else '')
        ) }};
    {%- endcall -%}
    {#- The model's descriptions as the view's and its columns' comments (persist_docs config). -#}
    {%- do persist_docs(target, model) -%}
    {%- do adapter.commit() -%}

    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target]}) }}
{% endmacro %}


{% macro rollup_refresh_windows(
    materialized, source, source_time, time_column, width, keys, rows_column, source_rows, taken_in, created
) %}
    {#-
        SQL: one row per refresh window (newest, window_start, window_end) of a continuous aggregate, and
        in `newest` the newest load the source holds (what the aggregate has taken in after the refresh).
        Created anew: one row (newest, null, null), everything. Otherwise the buckets that the source rows
        of the loads after `taken_in` fall in, adjacent ones merged: a window covers touched buckets only,
        never a range whose source was dropped (dropped chunks are logged as changes, and a refresh over
        them would empty the aggregate there). A touched bucket that the aggregate holds from more rows
        (`rows_column`) than the source still has (`source_rows`, an aggregate over its rows), for any
        key, is left alone: it is whole only in the aggregate. A bucket it does not hold yet (a
        historical backfill) is always refreshed.
    -#}
    {%- set unit = {'1 hour': 'hour', '1 day': 'day', '1 month': 'month'}[width] -%}
    with

    newest as (
        select max(loaded_at) as loaded_at from {{ source }}
    ),

    {%- if created %}

    windows as (
        select null::timestamp as window_start, null::timestamp as window_end
    )

    {%- else %}

    touched as (
        select distinct {{ rollup_bucket(width, source_time) }} as bucket_start
        from {{ source }}
        where
            loaded_at > {{ dbt.string_literal(taken_in or '-infinity') }}::timestamptz
            and loaded_at <= (select newest.loaded_at from newest)
    ),

    source_counts as (
        select
            {%- for key in keys %}
            source_rows.{{ key }},
            {%- endfor %}
            touched.bucket_start,
            {{ source_rows }} as source_rows
        from touched
        inner join {{ source }} as source_rows
            on
                source_rows.{{ source_time }} >= touched.bucket_start
                and source_rows.{{ source_time }} < touched.bucket_start + interval '{{ width }}'
        group by
            {%- for key in keys %}
            source_rows.{{ key }},
            {%- endfor %}
            touched.bucket_start
    ),

    -- a refresh recomputes a bucket for every key: not where the aggregate holds a key from more rows
    -- than the source still has (retention dropped some, and the aggregate is their only whole record;
    -- a late row for such a bucket stays in the source)
    partial as (
        select distinct touched.bucket_start
        from touched
        inner join {{ materialized }} as held
            on held.{{ time_column }} = touched.bucket_start
        left join source_counts
            on
            {%- for key in keys %}
            source_counts.{{ key }} = held.{{ key }} and
            {%- endfor %}
            source_counts.bucket_start = touched.bucket_start
        where held.{{ rows_column }} > coalesce(source_counts.source_rows, 0)
    ),

    refreshable as (
        select touched.bucket_start
        from touched
        where touched.bucket_start not in (select partial.bucket_start from partial)
    ),

    islands as (
        select
            bucket_start,
            sum(starts_island) over (order by bucket_start) as island
        from (
            select
                bucket_start,
                -- a window ends where the next touched bucket does not follow on
                case
                    when lag(bucket_start + interval '{{ width }}') over (order by bucket_start) = bucket_start
                        then 0
                    else 1
                end as starts_island
            from refreshable
        ) as flagged
    ),

    windows as (
        select min(bucket_start) as window_start, max(bucket_start) + interval '{{ width }}' as window_end
        from islands
        group by island
    )

    {%- endif %}

    select newest.loaded_at::text as newest, windows.window_start::text, windows.window_end::text
    from newest
    left join windows on true
    order by windows.window_start
{% endmacro %}
