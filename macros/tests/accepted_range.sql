{#
    Generic test: every non-null value of column_name lies within [min_value, max_value] (inclusive by
    default; inclusive=false makes both bounds strict). Give either bound or both. Restrict the rows
    checked with the standard test config `where:` (e.g. `where: "unit = '%'"`). Null values pass
    (pair with not_null where they must not occur). Fails with the offending rows.
#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error("accepted_range: give min_value, max_value or both") }}
    {%- endif -%}
    {%- set lower = '>=' if inclusive else '>' -%}
    {%- set upper = '<=' if inclusive else '<' %}

with

checked as (

    select
        *,
        {{ column_name }} as checked_value
    from {{ model }}
    where {{ column_name }} is not null

)

select *
from checked
where
    false
    {%- if min_value is not none %}
    or not (checked_value {{ lower }} {{ min_value }})
    {%- endif %}
    {%- if max_value is not none %}
    or not (checked_value {{ upper }} {{ max_value }})
    {%- endif %}
{% endtest %}
