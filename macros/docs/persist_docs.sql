{#
    persist_docs on PostgreSQL in one statement per model. dbt's default asks information_schema for the
    relation's columns twice (default__persist_docs, then postgres__alter_column_comment) and sends the
    relation's comment and the columns' comments as two more statements: four round trips per model, on
    every build. Here one DO block comments the relation and each described column the relation has (read
    from pg_attribute inside the block), with the same texts and quoting as dbt's.
#}

{% macro postgres__persist_docs(relation, model, for_relation=true, for_columns=true) -%}
    {%- set comment_relation = for_relation and config.persist_relation_docs() and model.description -%}
    {%- set columns = model.columns if (for_columns and config.persist_column_docs() and model.columns) else {} -%}
    {%- if not comment_relation and not columns -%}
        {{ return('') }}
    {%- endif -%}
    {%- set relation_type = 'materialized view' if relation.type == 'materialized_view' else relation.type -%}
    {%- call statement('persist_docs') -%}
        do $gridhouse_persist_docs$
        begin
            {%- if comment_relation %}
            comment on {{ relation_type }} {{ relation }} is {{ postgres_escape_comment(model.description) }};
            {%- endif %}
            {%- for name, column in columns.items() %}
            if exists (
                select from pg_attribute
                where
                    attrelid = {{ dbt.string_literal(relation.render()) }}::regclass
                    and attname = {{ dbt.string_literal(name) }} and attnum > 0 and not attisdropped
            ) then
                comment on column {{ relation }}.{{ adapter.quote(name) if column.get('quote') else name }}
                    is {{ postgres_escape_comment(column.get('description') or '') }};
            end if;
            {%- endfor %}
        end
        $gridhouse_persist_docs$
    {%- endcall -%}
{%- endmacro %}
