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
