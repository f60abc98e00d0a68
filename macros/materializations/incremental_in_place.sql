{#
    `incremental_in_place`: dbt's incremental materialization (run as it is), with one change: the model
    (the latest-state tables under the alert views and the BI views) is rebuilt by --full-refresh in place: its rows deleted and the model's query inserted in one transaction, instead
    of dbt's build-a-new-table, swap and `drop ... cascade`, which drops every view over the table until
    the build recreates it (pollers got "relation does not exist"). Readers see the old rows until the
    commit, then the new ones. Falls back to dbt's way when the query's columns differ from the table's
    (names, types and order: a schema change needs the swap) or the relation is not a table yet.
#}
{%- materialization incremental_in_place, adapter='postgres' -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- if not (should_full_refresh()
        and existing_relation is not none and existing_relation.is_table
        and columns_match(existing_relation, sql)) -%}
        {{- return(dbt.materialization_incremental_default()) -}}
    {%- endif -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set columns = adapter.get_columns_in_relation(existing_relation) -%}
    {%- set column_list = columns | map(attribute='quoted') | join(', ') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% call statement('main') -%}
        delete from {{ target_relation }};
        insert into {{ target_relation }} ({{ column_list }})
        select {{ column_list }}
        from (
            {{ sql }}
        ) as rebuilt;
    {%- endcall %}

    {% do apply_grants(target_relation, config.get('grants'), should_revoke=true) %}
    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization -%}


{% macro columns_match(relation, sql) -%}
    {#- Whether the query `sql` has exactly the columns of `relation` (names and types, in order), read
        from a temporary view of it (nothing runs). -#}
    {%- set probe = relation.identifier ~ '__gridhouse_in_place' -%}
    {%- call statement('in_place_columns', fetch_result=true) -%}
        create temporary view {{ adapter.quote(probe) }} as (
            {{ sql }}
        );
        with

        held as (
            select attnum, attname, format_type(atttypid, atttypmod) as column_type
            from pg_attribute
            where attrelid = '{{ relation }}'::regclass and attnum > 0 and not attisdropped
        ),

        wanted as (
            select attnum, attname, format_type(atttypid, atttypmod) as column_type
            from pg_attribute
            where attrelid = '{{ adapter.quote(probe) }}'::regclass and attnum > 0 and not attisdropped
        )

        select not exists (
            select 1
            from held
            full join wanted on held.attnum = wanted.attnum
            where
                wanted.attname is distinct from held.attname
                or wanted.column_type is distinct from held.column_type
        )
    {%- endcall -%}
    {%- set matched = load_result('in_place_columns').table.columns[0].values()[0] -%}
    {%- call statement('drop_in_place_probe') -%}
        drop view if exists {{ adapter.quote(probe) }}
    {%- endcall -%}
    {{- return(matched) -}}
{%- endmacro %}
