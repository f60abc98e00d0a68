{#
    The time windows of the battery time-series chain (docs/batteries.md, "Incremental runs"). Every
    incremental battery model re-reads only a recent window, found from its own table through an index or
    a small table, so an incremental run costs what the new data costs, not what the history costs.
#}

{% macro lookback_start(relation, column, lookback_hours=none) -%}
    {#- SQL timestamptz: the newest `column` in `relation` minus the lookback; -infinity when it is empty. -#}
    {%- set hours = var('battery_lookback_hours') if lookback_hours is none else lookback_hours -%}
    (select coalesce(max({{ column }}), '-infinity'::timestamptz) - interval '{{ hours }} hours' from {{ relation }})
{%- endmacro %}


{% macro lookback_first_day(relation, column, lookback_hours=none) -%}
    {#- SQL date: the UTC day of lookback_start(relation, column, lookback_hours). -#}
    ({{ lookback_start(relation, column, lookback_hours) }} at time zone 'UTC')::date
{%- endmacro %}


{% macro battery_day_window() -%}
    {#-
        The window of an incremental per-UTC-day battery model, as {'first_day', 'read_from'} (SQL): on an
        incremental run the first day to recompute (lookback_first_day over day_utc) and the start of the
        day before it, whose last point starts the first day's first step; otherwise everything.
    -#}
    {%- if is_incremental() -%}
        {%- set first_day = lookback_first_day(this, "day_utc::timestamp at time zone 'UTC'") -%}
        {%- do return({
            'first_day': first_day,
            'read_from': "(" ~ first_day ~ " - 1)::timestamp at time zone 'UTC'",
        }) -%}
    {%- endif -%}
    {%- do return({'first_day': "'-infinity'::date", 'read_from': "'-infinity'::timestamptz"}) -%}
{%- endmacro %}


{% macro battery_load_bounds() -%}
    {#-
        int_batteries__telemetry_scaled's loads to take in (loads_to_take_in): `built_through` is the
        loaded_at of the newest point held (one index probe, where max(loaded_at) would read the whole
        table; a later load that brought only older points is read again, and nothing it holds is written
        twice). Adds `first_epoch_ms`, the earliest point in epoch milliseconds, which prunes the raw key.
    -#}
    {%- set loads = loads_to_take_in(
        'batteries',
        ref('stg_batteries__telemetry'),
        'measured_at',
        built_through='select (select loaded_at from ' ~ this ~ ' order by measured_at desc limit 1)',
    ) -%}
    {%- do loads.update({'first_epoch_ms': epoch_ms_from(loads.first)}) -%}
    {{- return(loads) -}}
{%- endmacro %}


{% macro epoch_ms_from(timestamp_sql) -%}
    {#- SQL bigint: epoch milliseconds of a timestamptz expression, the smallest bigint for -infinity. -#}
    (
        case
            when {{ timestamp_sql }} = '-infinity'::timestamptz then -9223372036854775808
            else (extract(epoch from {{ timestamp_sql }}) * 1000)::bigint
        end
    )
{%- endmacro %}


{% macro test_window_start(identifier, column, hours, in_epoch_ms=false) -%}
    {#-
        SQL literal: `hours` before the newest `column` of marts.<identifier> (or <schema>.<identifier>),
        looked up when the test runs;
        the smallest value on a full refresh or before that table exists (the first build tests every
        row). In epoch milliseconds for a view over a raw epoch_ms column (its index then prunes).
    -#}
    {%- set everything = '-9223372036854775808' if in_epoch_ms else "'-infinity'::timestamptz" -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{- return(everything) -}}
    {%- endif -%}
    {%- set schema, name = identifier.split('.') if '.' in identifier else ('marts', identifier) -%}
    {%- set relation = adapter.get_relation(database=target.database, schema=schema, identifier=name) -%}
    {%- if relation is none -%}
        {{- return(everything) -}}
    {%- endif -%}
    {%- set bound -%}
        select max({{ column }}) - interval '{{ hours }} hours' from {{ relation }}
    {%- endset -%}
    {%- set newest = run_query(bound).columns[0].values()[0] -%}
    {%- if newest is none -%}
        {{- return(everything) -}}
    {%- endif -%}
    {%- if in_epoch_ms -%}
        {{- return((newest.timestamp() * 1000) | int | string) -}}
    {%- endif -%}
    {{- return("'" ~ newest.isoformat() ~ "'::timestamptz") -}}
{%- endmacro %}


{% macro postgres__get_where_subquery(relation) -%}
    {#-
        dbt's test `where` (as default__get_where_subquery), plus placeholders that generic test configs
        cannot compute themselves (they are parsed without project macros), replaced when the test runs:
        __battery_test_window__ / __battery_test_window_ms__ (var battery_test_window_hours before the newest
        point of battery_telemetry), __device_test_window__ (var device_test_window_hours
        before the newest hour of fct_device_energy_hourly), and for the staging views over raw tables
        __circuit_built_loaded_at__ / __device_built_loaded_at__ (the newest loaded_at that
        fct_circuit_usage_hourly / fct_device_readings hold: `loaded_at > ...` tests the loads a build takes
        in, through the raw table's BRIN index on _loaded_at).
    -#}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {#- Battery windows read the storage table, not the view battery_telemetry over it: max() there
            is one index probe. -#}
        {%- set windows = {
            '__battery_test_window_ms__': ('intermediate.int_batteries__telemetry_scaled', 'measured_at', 'battery_test_window_hours', true),
            '__battery_test_window__': ('intermediate.int_batteries__telemetry_scaled', 'measured_at', 'battery_test_window_hours', false),
            '__device_test_window__': ('fct_device_energy_hourly', 'hour_start', 'device_test_window_hours', false),
            '__circuit_built_loaded_at__': ('fct_circuit_usage_hourly', 'loaded_at', none, false),
            '__device_built_loaded_at__': ('fct_device_readings', 'loaded_at', none, false),
        } -%}
        {#- A namespace: a plain set inside the loop would not outlive it. -#}
        {%- set replaced = namespace(where=where) -%}
        {%- for placeholder, window in windows.items() -%}
            {%- if placeholder in replaced.where -%}
                {%- set replaced.where = replaced.where | replace(
                    placeholder,
                    test_window_start(window[0], window[1], var(window[2]) if window[2] else 0, window[3])
                ) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ replaced.where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}


{% macro get_incremental_window_sql(arg_dict) %}
    {#-
        Incremental strategy `window`: the model's incremental_predicates bound the delete to the window the
        run recomputed (they are rendered when the model is parsed, so they name the target `__this__`,
        replaced here). With a unique_key: dbt's delete+insert plus those bounds, so the delete uses the
        time index instead of scanning the history. Without one: delete every target row the predicates
        select, then insert every row the model returned (for a window whose rows can disappear: an episode
        split or merged by late points).
    -#}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set predicates = [] -%}
    {%- for predicate in arg_dict["incremental_predicates"] or [] -%}
        {#- A namespace: a plain set inside the inner loop would not outlive it. -#}
        {%- set bound = namespace(sql=predicate | replace('__this__', target | string)) -%}
        {#- __source_min__<column>: the smallest value of that column in the rows being written (a
            literal, so the planner prunes by index or chunk; null, deleting nothing, when there are none) -#}
        {%- for column in modules.re.findall('__source_min__(\\w+)', bound.sql) -%}
            {%- set smallest = run_query('select min(' ~ adapter.quote(column) ~ ') from ' ~ source).columns[0].values()[0] -%}
            {%- set literal = 'null' if smallest is none else (timestamptz_literal(smallest) if smallest.isoformat is defined else smallest | string) -%}
            {%- set bound.sql = bound.sql | replace('__source_min__' ~ column, literal) -%}
        {%- endfor -%}
        {%- do predicates.append(bound.sql) -%}
    {%- endfor -%}
    {%- if not predicates -%}
        {{ exceptions.raise_compiler_error("the window strategy needs incremental_predicates: the window") }}
    {%- endif -%}
    {%- if arg_dict["unique_key"] -%}
        {{ get_delete_insert_merge_sql(target, source, arg_dict["unique_key"], arg_dict["dest_columns"], predicates) }}
    {%- else -%}
        {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) %}
    delete from {{ target }} as DBT_INTERNAL_DEST
    where {{ predicates | join(' and ') }};
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
    {%- endif %}
{% endmacro %}
