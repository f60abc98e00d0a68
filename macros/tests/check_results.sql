{#
    The record of what the data tests found, for BI tools and pollers (schema data_quality, docs/alerts.md).

    check_results_table() (on-run-start) makes the tables if missing; record_check_results(results)
    (on-run-end) writes one row per data test of the run from dbt's `results` (nothing is read at compile
    time): which check, on which model and column, its severity and status, how many rows it found and
    where they are stored (store_failures). For a test whose stored rows carry `source_file` and
    `loaded_at` (the staging views' tests), check_failures_by_load counts them per file and load, so a
    reader sees which delivery a failing row came from.
#}
{% macro check_results_table() %}
create schema if not exists data_quality;
create table if not exists data_quality.check_results (
    invocation_id text not null,
    run_started_at timestamptz not null,
    recorded_at timestamptz not null,
    check_name text not null,
    check_kind text,
    tested_model text,
    column_name text,
    severity text,
    status text not null,
    failures bigint,
    message text,
    failures_relation text,
    primary key (invocation_id, check_name)
);
create index if not exists check_results_check_name_run on data_quality.check_results (check_name, run_started_at desc);
create table if not exists data_quality.check_failures_by_load (
    invocation_id text not null,
    check_name text not null,
    source_file text,
    loaded_at timestamptz,
    failing_rows bigint not null
);
create index if not exists check_failures_by_load_run on data_quality.check_failures_by_load (invocation_id, check_name);
{% endmacro %}


{% macro record_check_results(results) %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tests = [] -%}
    {%- for result in results if result.node.resource_type == 'test' -%}
        {%- do tests.append(result) -%}
    {%- endfor -%}
    {%- set keep_days = var('data_quality_keep_days', 90) | int %}
delete from data_quality.check_results
where run_started_at < now() - interval '{{ keep_days }} days';
delete from data_quality.check_failures_by_load as by_load
where not exists (
    select 1 from data_quality.check_results as kept where kept.invocation_id = by_load.invocation_id
);
    {%- if tests %}
insert into data_quality.check_results (
    invocation_id, run_started_at, recorded_at, check_name, check_kind, tested_model, column_name, severity,
    status, failures, message, failures_relation
)
values
        {%- for result in tests %}
            {%- set node = result.node -%}
            {%- set kind = node.test_metadata.name if node.test_metadata else 'singular' -%}
            {%- set tested = (node.attached_node or '').split('.')[-1] or none -%}
            {%- set stored = node.relation_name if node.config.store_failures else none %}
    (
        {{ check_text(invocation_id) }}, {{ check_text(run_started_at.isoformat()) }}::timestamptz, now(),
        {{ check_text(node.name) }}, {{ check_text(kind) }}, {{ check_text(tested) }},
        {{ check_text(node.column_name) }}, {{ check_text(node.config.severity | lower) }},
        {{ check_text(result.status | string) }}, {{ result.failures if result.failures is number else 'null' }},
        {{ check_text(result.message) }}, {{ check_text(stored) }}
    ){{ ',' if not loop.last else ';' }}
        {%- endfor %}
        {%- for result in tests if result.node.config.store_failures and result.failures and result.failures > 0 %}
            {%- set relation = result.node.relation_name %}
do $check_failures$
begin
    -- Only where the stored rows name their file and load (the columns of a tested staging view).
    if (
        select count(*) from pg_attribute
        where attrelid = to_regclass({{ check_text(relation) }})
            and attname in ('source_file', 'loaded_at') and not attisdropped
    ) = 2 then
        insert into data_quality.check_failures_by_load
        select
            {{ check_text(invocation_id) }}, {{ check_text(result.node.name) }},
            source_file::text, loaded_at::timestamptz, count(*)
        from {{ relation }}
        group by source_file, loaded_at;
    end if;
end
$check_failures$;
        {%- endfor %}
    {%- endif %}
{% endmacro %}


{% macro check_text(value) -%}
    {#- A SQL text literal of `value` (null when none). -#}
    {%- if value is none -%}
        null
    {%- else -%}
        '{{ value | string | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}
