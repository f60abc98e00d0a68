{#
    Retention tiers of the smart-home rollups (seed 003: raw 7 days, hourly 90 days, daily 2 years,
    monthly forever; vars device_retention_*_days). With TimescaleDB the table (already a hypertable, see
    time_series_storage) gets a retention policy that drops chunks older than keep_days. On plain
    PostgreSQL this is a no-op and `gridhouse prune` (ingest/prune.py) applies the same tiers with DELETE.
    keep_days none = keep forever.
#}
{% macro device_retention_policy(relation, time_column, keep_days) %}
    {%- if keep_days is none or keep_days == 'null' or not timescale_enabled() -%}
        select 1 as retention_applies_through_gridhouse_prune
    {%- else -%}
        select add_retention_policy(
            '{{ relation }}'::regclass,
            drop_after => interval '{{ keep_days | int }} days',
            if_not_exists => true
        )
    {%- endif -%}
{% endmacro %}


{#
    The time before which `gridhouse prune` has deleted the rows of a tier ('raw', 'hourly', 'daily'),
    as a SQL expression: from raw_devices.retention_watermarks, which prune writes; '-infinity' when
    nothing was pruned yet. A rollup never recomputes a period that starts before its source tier's
    watermark: that period's source rows are (partly) gone, and the rollup row it already holds is the
    only complete record left.
#}
{% macro retention_watermark(tier) %}
    {%- set relation = none -%}
    {%- if execute -%}
        {%- set relation = adapter.get_relation(
            database=target.database, schema='raw_devices', identifier='retention_watermarks'
        ) -%}
    {%- endif -%}
    {%- if relation is none -%}
        '-infinity'::timestamptz
    {%- else -%}
        coalesce(
            (select max(pruned_before) from {{ relation }} where tier = {{ dbt.string_literal(tier) }}),
            '-infinity'::timestamptz
        )
    {%- endif -%}
{% endmacro %}
