{#-
    Every record the loader quarantined, of every vendor, with where it came from and why: the vendors'
    quarantine tables (raw_<vendor>.quarantine) for readers who may not read raw schemas. A view: it
    lists what the tables hold now. A vendor whose raw tables do not exist yet (nothing loaded and no
    `gridhouse build`, which makes them) contributes no rows: the catalog is asked when the view is
    built, so a build selecting one vendor's models works on a database holding only that vendor.
-#}
{%- set present = [] -%}
{%- for vendor in ['batteries', 'meters', 'circuits', 'devices'] -%}
    {%- set quarantine = source(vendor, 'quarantine') -%}
    {%- if not execute
        or adapter.get_relation(quarantine.database, quarantine.schema, quarantine.identifier) is not none -%}
        {%- do present.append((vendor, quarantine)) -%}
    {%- endif -%}
{%- endfor %}

with

{% for vendor, quarantine in present %}
    {{ vendor }}_quarantine as (

        select
            '{{ vendor }}'::text as vendor,
            source_file::text as source_file,
            position::text as position_in_file,
            field::text as field,
            reason::text as reason,
            -- the record as read, cut short for a listing; raw_<vendor>.quarantine keeps every byte
            left(raw_text, 200)::text as raw_excerpt,
            _loaded_at as loaded_at,
            _dlt_load_id::text as dlt_load_id
        from {{ quarantine }}

    ),
{% endfor %}

none_loaded as (

    select
        null::text as vendor,
        null::text as source_file,
        null::text as position_in_file,
        null::text as field,
        null::text as reason,
        null::text as raw_excerpt,
        null::timestamptz as loaded_at,
        null::text as dlt_load_id
    where false

),

final as (

    {%- for vendor, quarantine in present %}
        select * from {{ vendor }}_quarantine
        union all
    {%- endfor %}
    select * from none_loaded

)

select * from final
