{#
    Where the device models' SQL differs between PostgreSQL and Spark (docs/spark.md): one macro per
    difference, dispatched (postgres__ renders exactly what the models wrote before, spark__ its Spark SQL).
    Time: Spark's session time zone is UTC (profiles.yml); a PostgreSQL `timestamp` (wall clock) is a
    Spark `timestamp_ntz`, a `timestamptz` (instant) a Spark `timestamp`.
#}

{% macro sqltype(name) -%}
    {#- A PostgreSQL type name as this adapter spells it (for `::` casts, which both accept). -#}
    {{- return(adapter.dispatch('sqltype', 'gridhouse')(name)) -}}
{%- endmacro %}

{% macro default__sqltype(name) -%}
    {{- return(name) -}}
{%- endmacro %}

{% macro spark__sqltype(name) -%}
    {%- set types = {
        'text': 'string', 'double precision': 'double', 'timestamptz': 'timestamp',
        'timestamp': 'timestamp_ntz', 'integer': 'int', 'jsonb': 'string',
    } -%}
    {{- return(types.get(name, name)) -}}
{%- endmacro %}


{% macro json_number(column, key) -%}
    {#- The number under `key` of a JSON object held as text, as a double (null when absent). -#}
    {{- return(adapter.dispatch('json_number', 'gridhouse')(column, key)) -}}
{%- endmacro %}

{% macro default__json_number(column, key) -%}
    ({{ column }}::jsonb ->> '{{ key }}')::double precision
{%- endmacro %}

{% macro spark__json_number(column, key) -%}
    cast(get_json_object({{ column }}, '$.{{ key }}') as double)
{%- endmacro %}


{% macro json_value(column) -%}
    {#- A JSON text column as the adapter's JSON value (jsonb; Spark keeps the text). -#}
    {{- return(adapter.dispatch('json_value', 'gridhouse')(column)) -}}
{%- endmacro %}

{% macro default__json_value(column) -%}
    {{ column }}::jsonb
{%- endmacro %}

{% macro spark__json_value(column) -%}
    {{ column }}
{%- endmacro %}


{% macro to_local(instant, time_zone) -%}
    {#- The wall-clock time (timestamp without zone) of an instant in a time zone (SQL expression). -#}
    {{- return(adapter.dispatch('to_local', 'gridhouse')(instant, time_zone)) -}}
{%- endmacro %}

{% macro default__to_local(instant, time_zone) -%}
    {{ instant }} at time zone {{ time_zone }}
{%- endmacro %}

{% macro spark__to_local(instant, time_zone) -%}
    convert_timezone('UTC', {{ time_zone }}, cast({{ instant }} as timestamp_ntz))
{%- endmacro %}


{% macro from_local(wall_clock, time_zone) -%}
    {#- The instant a wall-clock time (timestamp without zone) names in a time zone. -#}
    {{- return(adapter.dispatch('from_local', 'gridhouse')(wall_clock, time_zone)) -}}
{%- endmacro %}

{% macro default__from_local(wall_clock, time_zone) -%}
    {{ wall_clock }} at time zone {{ time_zone }}
{%- endmacro %}

{% macro spark__from_local(wall_clock, time_zone) -%}
    to_utc_timestamp({{ wall_clock }}, {{ time_zone }})
{%- endmacro %}


{% macro utc_offset_minutes(instant, time_zone) -%}
    {#- Minutes the time zone's wall clock is ahead of UTC at the instant (integer). -#}
    {{- return(adapter.dispatch('utc_offset_minutes', 'gridhouse')(instant, time_zone)) -}}
{%- endmacro %}

{% macro default__utc_offset_minutes(instant, time_zone) -%}
    (
            extract(
                epoch from ({{ instant }} at time zone {{ time_zone }})
                - ({{ instant }} at time zone 'UTC')
            ) / 60
        )::integer
{%- endmacro %}

{% macro spark__utc_offset_minutes(instant, time_zone) -%}
    cast(timestampdiff(
        MINUTE, cast({{ instant }} as timestamp_ntz), {{ spark__to_local(instant, time_zone) }}
    ) as int)
{%- endmacro %}


{% macro offset_wall_clock_to_utc(wall_clock, offset_minutes) -%}
    {#- The instant of a wall-clock time whose zone is `offset_minutes` ahead of UTC. -#}
    {{- return(adapter.dispatch('offset_wall_clock_to_utc', 'gridhouse')(wall_clock, offset_minutes)) -}}
{%- endmacro %}

{% macro default__offset_wall_clock_to_utc(wall_clock, offset_minutes) -%}
    (
        ({{ wall_clock }} - make_interval(mins => {{ offset_minutes }}))
        at time zone 'UTC'
    )
{%- endmacro %}

{% macro spark__offset_wall_clock_to_utc(wall_clock, offset_minutes) -%}
    cast({{ wall_clock }} - make_interval(0, 0, 0, 0, 0, {{ offset_minutes }}, 0) as timestamp)
{%- endmacro %}


{% macro min_instant() -%}
    {#- An instant before every other (no load taken in yet). -#}
    {{- return(adapter.dispatch('min_instant', 'gridhouse')()) -}}
{%- endmacro %}

{% macro default__min_instant() -%}
    '-infinity'::timestamptz
{%- endmacro %}

{% macro spark__min_instant() -%}
    timestamp'0001-01-01 00:00:00'
{%- endmacro %}


{% macro newest_rows(relation, keys) -%}
    {#- SQL select: the rows of a raw table. The lake is append-only (ingest/lake.py): there a key
        delivered again keeps its newest `_loaded_at` only, as the PostgreSQL loader's upsert does. -#}
    {{- return(adapter.dispatch('newest_rows', 'gridhouse')(relation, keys)) -}}
{%- endmacro %}

{% macro default__newest_rows(relation, keys) -%}
    select * from {{ relation }}
{%- endmacro %}

{% macro spark__newest_rows(relation, keys) -%}
    select held.*
    from {{ relation }} as held
    left anti join {{ relation }} as newer
        on
        {%- for key in keys %}
            newer.{{ key }} = held.{{ key }} and
        {%- endfor %}
            newer._loaded_at > held._loaded_at
{%- endmacro %}


{% macro last_non_null(value, order_by) -%}
    {#- Aggregate: the last non-null `value` of the group in the order of `order_by` (e.g. the state of
        charge at the end of a period). -#}
    {{- return(adapter.dispatch('last_non_null', 'gridhouse')(value, order_by)) -}}
{%- endmacro %}

{% macro default__last_non_null(value, order_by) -%}
    ((array_agg({{ value }} order by {{ order_by }} desc) filter (where {{ value }} is not null))[1])
{%- endmacro %}

{% macro spark__last_non_null(value, order_by) -%}
    max_by({{ value }}, {{ order_by }}) filter (where {{ value }} is not null)
{%- endmacro %}


{% macro spark__rollup_bucket(width, unit, column) -%}
    {#- Spark's date_trunc gives a timestamp (an instant): back to the wall clock. -#}
    cast(date_trunc('{{ unit }}', {{ column }}) as timestamp_ntz)
{%- endmacro %}

{% macro spark__last_by(value, order_by) -%}
    max_by({{ value }}, {{ order_by }})
{%- endmacro %}


{% macro sum_in_order(expression, order_by) -%}
    {#- Aggregate: sum(expression) adding the rows in order_by's order, so a double's sum does not change
        in its last digit with the plan (a view summed at query time answers the same every time). -#}
    {{- return(adapter.dispatch('sum_in_order', 'gridhouse')(expression, order_by)) -}}
{%- endmacro %}

{% macro default__sum_in_order(expression, order_by) -%}
    sum({{ expression }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__sum_in_order(expression, order_by) -%}
    {#- Spark has no ordered aggregates: its sums are compared with PostgreSQL's within 1e-9 -#}
    sum({{ expression }})
{%- endmacro %}
