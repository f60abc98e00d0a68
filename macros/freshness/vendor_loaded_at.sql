{#
    Source freshness, one check per vendor on its load log (raw_<vendor>._gridhouse_loads): the
    `loaded_at_query` of the `_gridhouse_loads` table of each vendor source (models/staging/<vendor>/).
    `dbt source freshness` then gates what a vendor delivers, and only the vendors that have delivered:
    one never loaded (its load log missing, empty, or without a load that loaded a record) passes with a
    line saying so, instead of an error for every table it has not sent yet.
#}

{% macro vendor_loaded_at() -%}
    {#- SQL select of one timestamptz: the loaded_at of the vendor's newest load that ended well
        (`finished` or `recovered`) and loaded at least one record; a vendor never loaded: now. -#}
    {%- set delivered = "status in ('finished', 'recovered') and loaded > 0" -%}
    {%- set loaded = false -%}
    {%- if execute and load_relation(this) is not none -%}
        {%- set loaded = run_query(
            "select exists (select 1 from " ~ this ~ " where " ~ delivered ~ ")"
        ).columns[0].values()[0] -%}
    {%- endif -%}
    {%- if loaded -%}
        select max(loaded_at) from {{ this }} where {{ delivered }}
    {%- else -%}
        {%- if execute -%}
            {{ log(
                "Freshness of source " ~ source_node.source_name ~ ": never loaded (no load in " ~ this
                ~ " has loaded a record), nothing to check: reported as pass",
                info=true
            ) }}
        {%- endif %}
        select {{ current_timestamp() }}
    {%- endif -%}
{%- endmacro %}
