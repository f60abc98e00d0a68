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
        and view_columns_kept(existing_relation, sql, exact=true)) -%}
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
