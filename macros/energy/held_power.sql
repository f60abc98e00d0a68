{#
    The one place that turns power samples into energy (docs/domain.md): last value carried forward.
    Each sample's power is held from its time until the next sample of the same series; a hold longer
    than max_gap_seconds is a gap and contributes nothing, and neither does a series' last sample (it has
    no next sample yet). simulator/truth.py computes the truth with the same rule.

    power_holds(relation, partition_by, ...) selects one row per sample of `relation` (a ref or a CTE
    name) with the series keys, held_from, held_until (null for a gap or the last sample), power_w and
    held_seconds. hold_wh_within(start, end) is the energy in Wh of a hold clipped to [start, end);
    hold_seconds_within(start, end) the seconds of it inside. Every model, analysis and the
    `gridhouse usage` command integrate with these, so the rule is written once.
#}
{% macro power_holds(relation, partition_by, time_column='measured_at', power_column='power_w', max_gap_seconds=none) -%}
    {%- set max_gap = max_gap_seconds if max_gap_seconds is not none else var('max_gap_seconds', 900) -%}
    {%- set keys = partition_by | join(', ') %}
    select
        {{ keys }},
        held_from,
        case when held_seconds <= {{ max_gap }} then next_at end as held_until,
        power_w,
        case when held_seconds <= {{ max_gap }} then held_seconds else 0 end as held_seconds
    from (
        select
            {{ keys }},
            {{ time_column }} as held_from,
            lead({{ time_column }}) over (partition by {{ keys }} order by {{ time_column }}) as next_at,
            extract(epoch from (
                lead({{ time_column }}) over (partition by {{ keys }} order by {{ time_column }})
                - {{ time_column }}
            ))::double precision as held_seconds,
            {{ power_column }}::double precision as power_w
        from {{ relation }}
    ) as samples
{%- endmacro %}

{% macro hold_seconds_within(window_start, window_end, held_from='held_from', held_until='held_until') -%}
    greatest(
        extract(epoch from (least({{ held_until }}, {{ window_end }}) - greatest({{ held_from }}, {{ window_start }}))),
        0
    )::double precision
{%- endmacro %}

{% macro hold_wh_within(window_start, window_end, held_from='held_from', held_until='held_until', power='power_w') -%}
    ({{ power }} * {{ hold_seconds_within(window_start, window_end, held_from, held_until) }} / 3600.0)
{%- endmacro %}
