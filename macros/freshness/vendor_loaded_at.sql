{#
    Source freshness, one check per vendor on its load log (raw_<vendor>._gridhouse_loads): the
    `loaded_at_query` of the `_gridhouse_loads` table of each vendor source (models/staging/<vendor>/).
    `dbt source freshness` then gates what a vendor delivers, and only the vendors that have delivered:
    one never loaded (its load log missing, empty, or without a load that loaded a record) passes, with a
    line saying so where it has no load log, instead of an error for every table it has not sent yet.
    Plain SQL on the load log: nothing is read while the query is compiled.
#}

{% macro vendor_loaded_at() -%}
    {#- SQL select of one timestamptz: the loaded_at of the vendor's newest load that ended well
        (`finished` or `recovered`) and loaded at least one record; a vendor never loaded (no load log, or
        no such load in it): now. -#}
    {%- if execute and load_relation(this) is none -%}
        {{ log(
            "Freshness of source " ~ source_node.source_name ~ ": never loaded (no load log " ~ this
            ~ "), nothing to check: reported as pass",
            info=true
        ) }}
        select {{ current_timestamp() }}
    {%- else -%}
        select coalesce(max(loaded_at), {{ current_timestamp() }})
        from {{ this }}
        where status in ('finished', 'recovered') and loaded > 0
    {%- endif -%}
{%- endmacro %}
