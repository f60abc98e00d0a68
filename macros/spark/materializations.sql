{#
    The project's materializations on Spark (docs/spark.md). Tables are parquet, partitioned by the local
    day (month, year) their rows fall in; an incremental run overwrites the partitions the new loads
    touch (`insert overwrite` with dynamic partition overwrite, profiles.yml), each recomputed whole.
#}

{%- materialization rollup, adapter='spark' -%}
    {#- A rollup (macros/timescale/rollup.sql) as a parquet table partitioned by `partition_unit` of its
        time column (column local_<unit>, appended last), bucketed by device. The first run creates it
        from everything; later runs select the source rows of the partitions the new loads touch
        (rollup_where) and overwrite those partitions. -#}
    {%- set unit = config.require('partition_unit') -%}
    {%- set partition = 'local_' ~ unit -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing = load_cached_relation(this) -%}
    {%- set partitioned -%}
        select
            rolled.*,
            cast(date_trunc('{{ unit }}', rolled.{{ config.require('time_column') }}) as date) as {{ partition }}
        from ({{ sql }}) as rolled
    {%- endset -%}
    {{ run_hooks(pre_hooks) }}
    {%- if existing is not none and existing.type != 'table' -%}
        {%- do adapter.drop_relation(existing) -%}
        {%- set existing = none -%}
    {%- endif -%}
    {%- call statement('main') -%}
        {%- if existing is none %}
            create table {{ target_relation }}
            using parquet
            partitioned by ({{ partition }})
            {{ spark_device_buckets() }}
            as {{ partitioned }}
        {%- else %}
            insert overwrite table {{ target_relation }} partition ({{ partition }})
            {{ partitioned }}
        {%- endif %}
    {%- endcall -%}
    {{ run_hooks(post_hooks) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization -%}


{% macro spark_device_buckets() -%}
    {#- Rows of one device sit together in each partition: per-device reads and joins need no shuffle. -#}
    clustered by (device_id) into {{ var('spark_device_buckets', 4) }} buckets
{%- endmacro %}


{%- materialization view_in_place, adapter='spark' -%}
    {#- Spark replaces a view in place anyway (`create or replace view`). -#}
    {{ return(create_or_replace_view()) }}
{%- endmaterialization -%}


{%- materialization incremental_in_place, adapter='spark' -%}
    {#- The dimensions recompute every row on each run: on Spark a table rebuilt whole. -#}
    {{ return(dbt.materialization_table_spark()) }}
{%- endmaterialization -%}


{% macro spark__get_assert_columns_equivalent(sql) -%}
    {#- The contracts' data types are PostgreSQL's; on Spark the columns are checked against PostgreSQL's
        marts row by row instead (tests/test_spark.py). -#}
{%- endmacro %}


{% macro spark__apply_grants(relation, grant_config, should_revoke=True) -%}
    {#- Readers and their grants are PostgreSQL's; a Spark cluster's access is its catalog's business. -#}
{%- endmacro %}


{% macro spark__persist_docs(relation, model, for_relation=true, for_columns=true) -%}
    {#- Descriptions stay in the YAML (and dbt docs) on Spark: the Hive catalog's column comments would
        cost one ALTER per column. -#}
{%- endmacro %}


{% macro spark__get_select_subquery(sql) -%}
    {#- A contract's columns are PostgreSQL's: on Spark the model's select stands as written (its
        partition column last). -#}
    {{ sql }}
{%- endmacro %}
