{#
    The Spark target's on-run-start (dbt_project.yml): the lake's raw tables (ingest/lake.py) as external
    parquet tables in the catalog, so the device sources read them like raw_devices on PostgreSQL. Their
    columns are the loader's (ingest/sources/devices.py DEVICES and READINGS, the quarantine, the load
    log), declared here so a table the lake holds no file of yet is empty, not missing. New partitions
    (local days) and files are picked up on every run (`msck repair`, `refresh`).
#}
{% macro lake_raw_tables() -%}
    {%- set lake = env_var('GRIDHOUSE_LAKE_URL', '') -%}
    {%- if not lake and execute -%}
        {%- do exceptions.raise_compiler_error(
            "GRIDHOUSE_LAKE_URL is not set: run the Spark target through `gridhouse spark build`, or set it to the lake's URL"
        ) -%}
    {%- endif -%}
    {%- set meta = '_source_file string, _loaded_at timestamp, _dlt_load_id string' -%}
    {%- set tables = {
        'readings': 'device_id string, timestamp_iso string, measured_at timestamp, power_w double, '
            ~ 'energy_wh double, charge_pct double, mode string, ' ~ meta ~ ', local_day date',
        'devices': 'device_id string, home_id string, kind string, name string, timezone string, '
            ~ 'specs_json string, ' ~ meta,
        'quarantine': 'source_file string, position string, field string, reason string, raw_text string, '
            ~ 'raw_bytes binary, ' ~ meta,
        '_gridhouse_loads': 'loaded_at timestamp, finished_at timestamp, status string, files bigint, '
            ~ 'read bigint, loaded bigint, corrected bigint, quarantined bigint, recovers timestamp, '
            ~ '_dlt_load_id string',
    } -%}
    {%- set statements = ['create database if not exists raw_devices'] -%}
    {%- for name, columns in tables.items() -%}
        {%- do statements.append(
            'create table if not exists raw_devices.' ~ name ~ ' (' ~ columns ~ ') using parquet'
            ~ (' partitioned by (local_day)' if name == 'readings' else '')
            ~ " location '" ~ lake.rstrip('/') ~ '/raw_devices/' ~ name ~ "'"
        ) -%}
        {%- if name == 'readings' -%}
            {%- do statements.append('msck repair table raw_devices.' ~ name) -%}
        {%- endif -%}
        {%- do statements.append('refresh table raw_devices.' ~ name) -%}
    {%- endfor -%}
    {#- Spark runs one statement at a time; a hook is one. -#}
    {%- if execute -%}
        {%- for statement in statements -%}
            {%- do run_query(statement) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}


{% macro spark__rollup_touched(new_rows) -%}
    {#- rollup_where on Spark: the source rows of the partitions (local_<partition_unit>) that the rows of
        the loads this rollup has not taken in (`new_rows`) fall in, so each is recomputed whole. -#}
    {%- set source = ref(config.require('source_model')) -%}
    {%- set source_time = config.require('source_time') -%}
    {%- set unit = config.require('partition_unit') %}
        where cast(date_trunc('{{ unit }}', {{ source_time }}) as date) in (
            select distinct cast(date_trunc('{{ unit }}', fresh.{{ source_time }}) as date)
            from {{ source }} as fresh
            where {{ new_rows }}
        )
{%- endmacro %}


{% macro device_readings_to_take_in() -%}
    {#- fct_device_readings' condition on stg_devices__readings: the readings of the loads it has not
        taken in (loads_to_take_in). On Spark every reading of the lake's local-day partitions those
        readings fall in, of ended loads: the model overwrites those partitions whole. -#}
    {{- return(adapter.dispatch('device_readings_to_take_in', 'gridhouse')()) -}}
{%- endmacro %}

{% macro default__device_readings_to_take_in() -%}
    {{ loads_to_take_in('devices') }}
{%- endmacro %}

{% macro spark__device_readings_to_take_in() -%}
    local_day in (
            select distinct fresh.local_day
            from {{ ref('stg_devices__readings') }} as fresh
            where {{ loads_to_take_in('devices', 'fresh.loaded_at') }}
        )
        and loaded_at <= (
            select coalesce(max(loads.loaded_at), {{ min_instant() }})
            from {{ ref('stg_devices__loads') }} as loads
            where loads.has_ended
        )
{%- endmacro %}
