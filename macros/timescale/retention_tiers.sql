{#
    Retention tiers of the smart-home rollups (seed 003: raw 7 days, hourly 90 days, daily 2 years,
    monthly forever; vars device_retention_*_days), TimescaleDB only. On plain PostgreSQL these render
    nothing that touches data and `gridhouse prune` (ingest/prune.py) applies the same tiers with DELETE.

    A tier's rows are dropped by a job that the tier reading them schedules, after its own first refresh
    (macros/timescale/rollup.sql): a TimescaleDB scheduler runs a policy as soon as it exists, so a
    retention policy created with the raw tier dropped a historical fleet before the hourly tier had read
    it. The job (procedure gridhouse_tier_retention) drops a chunk older than drop_after only once the
    reading tier has materialized it: a chunk holding a (key, bucket) that the reader's materialization
    lacks, or holds from an older load than the chunk's rows, is kept, the next build refreshes it and a
    later run drops it. A policy firing in the middle of a build, or a historical load arriving between
    builds, can then never drop rows that the tier above has not taken in.
#}

{% macro tier_retention_procedure(schema) %}
    {#- SQL: (re)create the retention job's procedure in `schema`. Its config says which relation to
        drop from (`source`, a hypertable or continuous aggregate, `source_time`), after how long
        (`drop_after`), and which continuous aggregate reads it (`reader`, `reader_time`, the group
        `keys` and its `bucket_width`); without a reader it drops like add_retention_policy. -#}
create or replace procedure {{ schema }}.gridhouse_tier_retention(job_id integer, config jsonb)
language plpgsql
as $procedure$
declare
    source regclass := (config ->> 'source')::regclass;
    -- chunks wholly older than this may go (the time columns are local wall-clock timestamps)
    horizon timestamp := (now() at time zone 'UTC') - (config ->> 'drop_after')::interval;
    source_schema name;
    source_table name;
    reader_table text;
    key_list text;
    key_match text;
    chunk record;
    missing bigint;
    newest timestamptz;
begin
    if config ? 'reader' then
        -- the hypertable holding the source's rows: its own, or a continuous aggregate's materialization
        select
            coalesce(cagg.materialization_hypertable_schema, ns.nspname),
            coalesce(cagg.materialization_hypertable_name, cls.relname)
        into source_schema, source_table
        from pg_class as cls
        inner join pg_namespace as ns on cls.relnamespace = ns.oid
        left join timescaledb_information.continuous_aggregates as cagg
            on cagg.view_schema = ns.nspname and cagg.view_name = cls.relname
        where cls.oid = source;

        select format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)
        into reader_table
        from timescaledb_information.continuous_aggregates
        where format('%I.%I', view_schema, view_name)::regclass = (config ->> 'reader')::regclass;
        if reader_table is null then
            raise log 'gridhouse_tier_retention: % is not a continuous aggregate: % keeps its chunks',
                config ->> 'reader', source;
            return;
        end if;

        select
            string_agg(format('%I', key), ', '),
            string_agg(format('done.%1$I = held.%1$I', key), ' and ')
        into key_list, key_match
        from jsonb_array_elements_text(config -> 'keys') as key;

        -- an incremental source remembers what it has taken in by its newest loaded_at: keep that load
        if (config ->> 'keep_newest_load')::boolean then
            execute format('select max(loaded_at) from %s', source) into newest;
        end if;

        for chunk in
            select range_start::timestamp as range_start, range_end::timestamp as range_end
            from timescaledb_information.chunks
            where hypertable_schema = source_schema
                and hypertable_name = source_table
                and range_end::timestamp <= horizon
            order by range_start
        loop
            -- (key, bucket) groups of the chunk that the reader has not materialized from their newest load
            execute format(
                'select count(*) from ('
                '    select %1$s, time_bucket(%2$L::interval, %3$I) as bucket, max(loaded_at) as loaded_at'
                '    from %4$s where %3$I >= $1 and %3$I < $2 group by %1$s, time_bucket(%2$L::interval, %3$I)'
                ') as held where not exists ('
                '    select 1 from %5$s as done'
                '    where %6$s and done.%7$I = held.bucket and done.loaded_at >= held.loaded_at'
                ')',
                key_list, config ->> 'bucket_width', config ->> 'source_time', source,
                reader_table, key_match, config ->> 'reader_time'
            )
            into missing
            using chunk.range_start, chunk.range_end;
            if newest is not null and missing = 0 then
                execute format(
                    'select count(*) from (select 1 from %1$s where loaded_at = $3 and %2$I >= $1 and %2$I < $2'
                    ' limit 1) as newest_load',
                    source, config ->> 'source_time'
                )
                into missing
                using chunk.range_start, chunk.range_end, newest;
            end if;
            if missing = 0 then
                perform drop_chunks(source, older_than => chunk.range_end, newer_than => chunk.range_start);
            else
                -- kept: the next build's refresh takes these rows in, and a later run drops the chunk
                raise log 'gridhouse_tier_retention: % keeps its chunk from %: % groups not materialized in %',
                    source, chunk.range_start, missing, config ->> 'reader';
            end if;
        end loop;
    else
        perform drop_chunks(source, older_than => horizon);
    end if;
end
$procedure$;
revoke all on procedure {{ schema }}.gridhouse_tier_retention(integer, jsonb) from public;
{% endmacro %}


{% macro tier_retention_policy(
    source, source_time, keep_days, reader=none, reader_time=none, keys=[], width=none, keep_newest_load=false,
    every='1 hour'
) %}
    {#- SQL (TimescaleDB): schedule the gridhouse_tier_retention job dropping `source`'s chunks older than
        keep_days once `reader` has materialized them (idempotent; a changed config replaces the job, and
        a plain retention policy on source is removed); keep_days none removes the job. keep_newest_load:
        also keep the chunks holding the source's newest loaded_at, an incremental model's memory of what
        it has taken in (docs/incremental.md), so retention never makes it take every load in again. -#}
    {%- set wanted = {
        'source': source.schema ~ '.' ~ source.identifier,
        'source_time': source_time,
        'drop_after': (keep_days | string) ~ ' days',
    } -%}
    {%- if reader is not none -%}
        {%- do wanted.update({
            'reader': reader.schema ~ '.' ~ reader.identifier,
            'reader_time': reader_time,
            'keys': keys,
            'bucket_width': width,
            'keep_newest_load': keep_newest_load,
        }) -%}
    {%- endif -%}
    {%- set keep = keep_days is not none and keep_days != 'null' -%}
{{ tier_retention_procedure(source.schema) }}
do $tier_retention$
declare
    wanted jsonb := {{ dbt.string_literal(tojson(wanted)) }}::jsonb;
    held record;
begin
    -- a plain policy (earlier builds made one) drops without asking the tier above
    perform remove_retention_policy({{ dbt.string_literal(wanted['source']) }}::regclass, if_exists => true);
    for held in
        select job_id, config
        from timescaledb_information.jobs
        where proc_schema = {{ dbt.string_literal(source.schema) }}
            and proc_name = 'gridhouse_tier_retention'
            and config ->> 'source' = wanted ->> 'source'
    loop
        if {{ 'false' if keep else 'true' }} or held.config is distinct from wanted then
            perform delete_job(held.job_id);
        else
            wanted := null;
        end if;
    end loop;
    if {{ 'true' if keep else 'false' }} and wanted is not null then
        perform add_job(
            {{ dbt.string_literal(source.schema ~ '.gridhouse_tier_retention') }}::regproc,
            schedule_interval => interval {{ dbt.string_literal(every) }},
            config => wanted
        );
    end if;
end
$tier_retention$;
{% endmacro %}


{% macro run_policy_jobs_in_build() %}
    {#- A stand-in for TimescaleDB's scheduler where there is none (PGlite): with var
        timescale_run_jobs_in_build true, run every job (policies and the tier retention jobs) now, in the
        middle of the build, as a real server may at any moment. -#}
    {%- if var('timescale_run_jobs_in_build', false) -%}
        {#- run_query runs outside a transaction (auto_begin=False), as run_job must. -#}
        {%- set jobs = run_query("select job_id from timescaledb_information.jobs where job_id >= 1000 order by job_id") -%}
        {%- for job_id in jobs.columns[0].values() -%}
            {%- call statement('run_job_' ~ job_id, auto_begin=False) -%}
                call run_job({{ job_id | int }})
            {%- endcall -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
