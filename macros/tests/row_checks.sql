{#
    Generic test: several checks on one relation in one query, so a view is computed once and a table
    scanned once instead of once per column test (each dbt test is a node of its own, with its own
    query and start-up). Fails with one row per failed check and row, its `failure` naming the check.
    - not_null: columns that must not be null;
    - ranges: {column: {min_value, max_value}} inclusive bounds (either or both), nulls pass (as
      accepted_range);
    - accepted_values: {column: [values]}, nulls pass (as dbt's accepted_values);
    - unique: columns whose combination must be unique (as unique_combination_of_columns; null is a
      value).
    The standard test config `where:` restricts the rows checked.
#}
{% test row_checks(model, not_null=[], ranges={}, accepted_values={}, unique=[]) %}
    {%- set checks = [] -%}
    {%- for column in not_null -%}
        {%- do checks.append((column ~ ' is null', column ~ ' is null')) -%}
    {%- endfor -%}
    {%- for column, bounds in ranges.items() -%}
        {%- if bounds.min_value is defined and bounds.min_value is not none -%}
            {%- do checks.append((column ~ ' < ' ~ bounds.min_value, column ~ ' < ' ~ bounds.min_value)) -%}
        {%- endif -%}
        {%- if bounds.max_value is defined and bounds.max_value is not none -%}
            {%- do checks.append((column ~ ' > ' ~ bounds.max_value, column ~ ' > ' ~ bounds.max_value)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for column, values in accepted_values.items() -%}
        {%- set quoted = [] -%}
        {%- for value in values -%}
            {%- do quoted.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}
        {%- endfor -%}
        {%- do checks.append((
            column ~ ' not in (' ~ (values | join(', ')) ~ ')',
            column ~ '::text not in (' ~ (quoted | join(', ')) ~ ')',
        )) -%}
    {%- endfor -%}
    {%- if not checks and not unique -%}
        {{ exceptions.raise_compiler_error("row_checks: give not_null, ranges, accepted_values or unique") }}
    {%- endif %}

with

checked as (

    select * from {{ model }}

),

failed_rows as (

    {%- if checks %}
    select failed.failure
    from checked
    cross join lateral (
        values
        {%- for failure, condition in checks %}
        ('{{ failure | replace("'", "''") }}', {{ condition }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as failed (failure, is_failed)
    where failed.is_failed
    {%- else %}
    select null::text as failure
    where false
    {%- endif %}

),

repeated as (

    {%- if unique %}
    select '({{ unique | join(', ') }}) appears ' || count(*) || ' times' as failure
    from checked
    group by {{ unique | join(', ') }}
    having count(*) > 1
    {%- else %}
    select null::text as failure
    where false
    {%- endif %}

),

final as (

    select failure from failed_rows
    union all
    select failure from repeated

)

select * from final

{% endtest %}
