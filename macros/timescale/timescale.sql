{#
    Storage for time-series tables, one set of macros for plain PostgreSQL and TimescaleDB. They decide
    at run time by checking pg_extension, so a model never duplicates itself per database.
#}

{% macro timescale_enabled() %}
    {#- True when the timescaledb extension is installed in the database dbt is connected to. -#}
    {%- if not execute or target.type != 'postgres' -%}
        {%- do return(false) -%}
    {%- endif -%}
    {%- set result = run_query("select count(*) from pg_extension where extname = 'timescaledb'") -%}
    {%- do return(result.columns[0].values()[0] | int > 0) -%}
{% endmacro %}


{% macro ensure_index(relation, columns, using='btree', unique=false) %}
    {#-
        SQL that creates an index on relation (columns: list of SQL column expressions such as
        'measured_at desc') unless the table already has one with the same access method and key. The
        check looks at the table itself, not at an index name, so it holds after dbt renames tables
        on a full refresh.
    -#}
    {%- if target.type == 'spark' -%}{{ return('') }}{%- endif -%}
    {%- set key = columns | join(', ') -%}
    {%- set wanted = ('create unique index' if unique else 'create index') -%}
do $ensure_index$
begin
    if not exists (
        select 1
        from pg_index as i
        where i.indrelid = '{{ relation }}'::regclass
            and pg_get_indexdef(i.indexrelid) ilike '{{ wanted }} %using {{ using }} ({{ key }})'
    ) then
        execute '{{ wanted }} on {{ relation }} using {{ using }} ({{ key }})';
    end if;
end
$ensure_index$;
{% endmacro %}


{% macro time_series_storage(
    relation,
    time_column,
    segment_by,
    chunk_interval,
    compress_after,
    unique_key=none,
    compression_policy=true
) %}
    {#-
        Post-hook SQL for a time-series table. Always: an index on unique_key (segment columns, then time
        descending) that serves "latest point per series" and the incremental delete. With TimescaleDB: a
        hypertable (chunk_interval), compression segmented by segment_by and ordered by time descending, and
        a compression policy (compress_after) unless compression_policy is false (the raw device tier's is
        added by the rollup reading it, after its first refresh). On plain PostgreSQL: a btree on time
        instead (the rollups' range of touched buckets and their oldest-row guard read it).
        Every step is idempotent: a re-run changes nothing.
    -#}
    {%- if target.type == 'spark' -%}{{ return('') }}{%- endif -%}
    {%- set key_columns = (unique_key or segment_by) | list -%}
    {%- set index_columns = [] -%}
    {%- for column in key_columns -%}
        {%- do index_columns.append(column ~ (' desc' if column == time_column else '')) -%}
    {%- endfor -%}
    {%- if time_column not in key_columns -%}
        {%- do index_columns.append(time_column ~ ' desc') -%}
    {%- endif %}
{{ ensure_index(relation, index_columns, unique=(unique_key is not none)) }}
    {%- if timescale_enabled() %}
do $time_series_storage$
begin
    if not exists (
        select 1
        from timescaledb_information.hypertables
        where hypertable_schema = '{{ relation.schema }}'
            and hypertable_name = '{{ relation.identifier }}'
    ) then
        perform create_hypertable(
            '{{ relation }}'::regclass,
            '{{ time_column }}'::name,
            chunk_time_interval => interval '{{ chunk_interval }}',
            migrate_data => true
        );
        -- the rows moved into chunks, which have no planner statistics yet (macro analyze_new_table)
        analyze {{ relation }};
    end if;
    if not (
        select compression_enabled
        from timescaledb_information.hypertables
        where hypertable_schema = '{{ relation.schema }}'
            and hypertable_name = '{{ relation.identifier }}'
    ) then
        alter table {{ relation }} set (
            timescaledb.compress,
            timescaledb.compress_segmentby = '{{ segment_by | join(", ") }}',
            timescaledb.compress_orderby = '{{ time_column }} desc'
        );
    end if;
    {%- if compression_policy %}
    perform add_compression_policy(
        '{{ relation }}'::regclass,
        compress_after => interval '{{ compress_after }}',
        if_not_exists => true
    );
    {%- endif %}
end
$time_series_storage$;
    {%- else %}
{{ ensure_index(relation, [time_column]) }}
    {%- endif %}
{% endmacro %}
