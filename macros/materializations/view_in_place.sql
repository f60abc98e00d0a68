{#
    Materialization `view_in_place` (set per folder in dbt_project.yml), a view that keeps its identity
    across rebuilds: `create or replace view` when the view exists and its columns
    stay as they are (same names and types in the same order; new columns may follow), else dbt's own view
    materialization (build a new view, swap it in, drop the old one with cascade). Replacing in place keeps the view's
    identity, so the views built on it (fct_home_energy_summary over fct_home_energy_daily, the
    intermediate views over staging) are never dropped while a build runs, nor for good after
    `dbt build --select` of the view alone, and so are its grants. The same under --full-refresh.
#}
{%- materialization view_in_place, adapter='postgres' -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {#- --full-refresh too: a view holds no rows, so replacing it in place is a full refresh, and a swap
        would drop the views over it and leave readers without it until the build recreates them. -#}
    {%- if existing_relation is none or not existing_relation.is_view
        or not view_columns_kept(existing_relation, sql) -%}
        {{- return(dbt.materialization_view_default()) -}}
    {%- endif -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% call statement('main') -%}
        {%- if config.get('contract').enforced %}
            {{ get_assert_columns_equivalent(sql) }}
        {%- endif %}
        create or replace view {{ target_relation }} as (
            {{ sql }}
        );
    {%- endcall %}

    {% do apply_grants(target_relation, config.get('grants'), should_revoke=should_revoke(existing_relation)) %}
    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization -%}


{% macro view_columns_kept(relation, sql, exact=false) -%}
    {#- Whether `create or replace view` can take `sql` over the view `relation` (PostgreSQL's rule): the
        view's columns come first, in their order, with their types; new columns may follow. With `exact`,
        no new column either (a table rewritten in place, incremental_in_place). The new query's columns
        are read from a temporary view of it (nothing runs). -#}
    {%- set probe = relation.identifier ~ '__gridhouse_columns' -%}
    {%- call statement('view_columns', fetch_result=true) -%}
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
            {{ 'full' if exact else 'left' }} join wanted on held.attnum = wanted.attnum
            where
                wanted.attname is distinct from held.attname
                or wanted.column_type is distinct from held.column_type
        )
    {%- endcall -%}
    {%- set kept = load_result('view_columns').table.columns[0].values()[0] -%}
    {%- call statement('drop_view_columns_probe') -%}
        drop view if exists {{ adapter.quote(probe) }}
    {%- endcall -%}
    {{- return(kept) -}}
{%- endmacro %}
