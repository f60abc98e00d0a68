-- seeds/series_units.csv mirrors the suffix table in macros/energy/decode_series_name.sql.
-- Each suffix in the macro's table is appended to a probe name and decoded with the macro's regular
-- expressions, so the test also catches a suffix the expressions do not read back as itself.
-- Returns every suffix the seed and the macro map differently, in either direction.
{%- set series = decode_series_name('series_name') %}

with

probes as (

    select series_name
    from (
        values
        {%- for suffix, unit in series.suffix_units %}
            ('Probe{{ suffix }}-mainmeter'){{ "," if not loop.last }}
        {%- endfor %}
    ) as probe_names (series_name)

),

macro_suffixes as (

    select
        {{ series.unit_suffix }} as suffix,
        {{ series.unit }} as unit
    from probes

),

seed_suffixes as (

    select
        suffix,
        unit
    from {{ ref('series_units') }}

),

final as (

    select
        coalesce(seed_suffixes.suffix, macro_suffixes.suffix) as suffix,
        seed_suffixes.unit as seed_unit,
        macro_suffixes.unit as macro_unit
    from seed_suffixes
    full outer join macro_suffixes
        on seed_suffixes.suffix = macro_suffixes.suffix
    where seed_suffixes.unit is distinct from macro_suffixes.unit

)

select * from final
