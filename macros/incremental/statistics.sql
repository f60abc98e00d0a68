{% macro analyze_new_table() -%}
    {#- Every model's post-hook (dbt_project.yml): ANALYZE a table that has no planner statistics yet, as
        a first build or a full refresh leaves it. Autovacuum analyzes it a minute or more later; until
        then the models that read it in the same build are planned on guessed row counts (docs/scaling.md).
        A table that already has statistics is left to autovacuum, so incremental runs pay nothing. -#}
    {{- return(adapter.dispatch('analyze_new_table', 'gridhouse')()) -}}
{%- endmacro %}

{% macro default__analyze_new_table() -%}
{%- endmacro %}

{% macro postgres__analyze_new_table() -%}
    {%- set materialized = config.get('materialized') -%}
    {%- set is_table = materialized in ('table', 'incremental', 'incremental_in_place')
        or (materialized == 'rollup' and not timescale_enabled()) -%}
    {%- if execute and is_table %}
    do $analyze$
    begin
        if not exists (
            select from pg_stats where schemaname = '{{ this.schema }}' and tablename = '{{ this.identifier }}'
        ) then
            analyze {{ this }};
        end if;
    end
    $analyze$
    {%- endif -%}
{%- endmacro %}
