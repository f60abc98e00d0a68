{#
    Generic test: no two rows share the same values in combination_of_columns (a composite primary key).
    Fails with one row per duplicated key and the number of rows carrying it. Nulls count as a value
    here (group by), so pair it with not_null on each key column.
#}
{% test unique_combination_of_columns(model, combination_of_columns, quote_columns=false) %}
    {%- if combination_of_columns is string or combination_of_columns | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "unique_combination_of_columns: combination_of_columns must be a non-empty list of column names"
        ) }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for column in combination_of_columns -%}
        {%- do columns.append(adapter.quote(column) if quote_columns else column) -%}
    {%- endfor -%}
    {%- set column_list = columns | join(', ') %}

with

duplicated_keys as (

    select
        {{ column_list }},
        count(*) as n_rows
    from {{ model }}
    group by {{ column_list }}
    having count(*) > 1

)

select * from duplicated_keys
{% endtest %}
