{#
    Incremental strategy `replace_all`, for the small tables that views are built on (the dimensions under
    the alert views and the BI marts): every run replaces all rows in place, in the model's transaction.
    dbt's table materialization builds a new table, swaps it in and drops the old one with `cascade`,
    which drops every view over it until those views are rebuilt later in the build (or never, after
    `dbt build --select` of the table alone): a poller of the alert views would get "relation does not
    exist". Here the table keeps its identity; readers see the old rows until the commit, then the new.
    The model returns every row on every run (it never filters on is_incremental()); a change of columns
    stops the build (on_schema_change='fail') until `--full-refresh`.
#}
{% macro get_incremental_replace_all_sql(arg_dict) %}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) %}
    delete from {{ arg_dict["target_relation"] }};
    insert into {{ arg_dict["target_relation"] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict["temp_relation"] }}
{% endmacro %}
