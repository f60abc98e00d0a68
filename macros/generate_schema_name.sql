{#
    Custom schema names are used as written (staging, intermediate, marts, alerts, seeds), not
    prefixed with the target schema as dbt does by default: consumers and pollers read fixed names.
    A node without a custom schema lands in the target schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
