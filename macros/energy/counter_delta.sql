{#
    The counter rule (docs/domain.md, "Cumulative counters"), the one place that knows it: every step of a
    cumulative kWh counter gets a label and the energy it adds, by a physical bound. A step from point a to
    point b is plausible when it lies within [-tolerance, allowed(a, b)],

        allowed(a, b) = max power (kW, the greater of a's and b's) x hours(t_b - t_a) x (1 + margin) + tolerance

    and the step into point i (which reads points i-2 .. i+1) is:
      - spike     point i is a one-point excursion (the steps into and out of it are implausible, the
                  step over it, from i-1 to i+1, is plausible): 0; or point i-1 was one: the bridged
                  step v[i] - v[i-2], counted once, here; or an implausible rise that does not come
                  back: 0
      - normal    plausible: the step (a fall within the tolerance counts 0)
      - gap       plausible, over more than counter_gap_seconds: the step
      - reset     a fall to a value itself within allowed (near zero), followed by a plausible step (or by
                  no point yet): the new value (the counter restarted from zero)
      - rollback  any other fall: 0
    The first point of a series has no step: label null, energy 0. A step belongs to the point that ends it.
    Returns a select over `points` (a relation or CTE name holding every point of each series read, with
    `columns`, `value`, `order_by` and `max_power_kw`): `columns`, then step_label, step_kwh (the raw step,
    null on a first point) and energy_kwh, each name led by `prefix` (to label two counters in one pass:
    the second call reads the first one's result).
#}
{% macro counter_steps(points, columns, value, partition_by, order_by, max_power_kw, prefix='') %}
    {%- set window = 'partition by ' ~ partition_by | join(', ') ~ ' order by ' ~ order_by -%}
    {%- set tolerance = var('counter_tolerance_kwh') -%}
    {%- set carried = columns | join(',\n        ') %}
    select
        {{ carried }},
        step_label as {{ prefix }}step_label,
        current_kwh - previous_kwh as {{ prefix }}step_kwh,
        case
            when step_label in ('normal', 'gap') then greatest(current_kwh - previous_kwh, 0.0)
            when step_label = 'reset' then current_kwh
            when step_label = 'spike' and previous_is_excursion and not is_excursion
                then greatest(current_kwh - second_previous_kwh, 0.0)
            else 0.0
        end as {{ prefix }}energy_kwh
    from (
        select
            *,
            case
                when previous_kwh is null then null
                when is_excursion or previous_is_excursion then 'spike'
                when {{ _counter_plausible('current_kwh - previous_kwh', 'allowed_into_kwh') }}
                    then case when elapsed_seconds > {{ var('counter_gap_seconds') }} then 'gap' else 'normal' end
                when current_kwh - previous_kwh > allowed_into_kwh then 'spike'
                when
                    current_kwh >= 0
                    and current_kwh <= allowed_into_kwh
                    and (
                        next_kwh is null
                        or {{ _counter_plausible('next_kwh - current_kwh', 'allowed_out_kwh') }}
                    )
                    then 'reset'
                else 'rollback'
            end as step_label
        from (
            select
                *,
                -- This point is a one-point excursion: the steps into and out of it are implausible, the step
                -- over it is not (the point after a dip, which only returns, has a plausible step out).
                coalesce(
                    not {{ _counter_plausible('current_kwh - previous_kwh', 'allowed_into_kwh') }}
                    and not {{ _counter_plausible('next_kwh - current_kwh', 'allowed_out_kwh') }}
                    and {{ _counter_plausible('next_kwh - previous_kwh', 'allowed_over_kwh') }},
                    false
                ) as is_excursion,
                -- The previous point was one (the same test, one point earlier).
                coalesce(
                    not {{ _counter_plausible('previous_kwh - second_previous_kwh', 'allowed_before_kwh') }}
                    and not {{ _counter_plausible('current_kwh - previous_kwh', 'allowed_into_kwh') }}
                    and {{ _counter_plausible('current_kwh - second_previous_kwh', 'allowed_back_kwh') }},
                    false
                ) as previous_is_excursion
            from (
                select
                    *,
                    extract(epoch from {{ order_by }} - previous_at)::double precision as elapsed_seconds,
                    {{ _counter_allowed('previous_at', order_by, 'previous_power_kw', 'current_power_kw') }}
                        as allowed_into_kwh,
                    {{ _counter_allowed(order_by, 'next_at', 'current_power_kw', 'next_power_kw') }}
                        as allowed_out_kwh,
                    {{ _counter_allowed('previous_at', 'next_at', 'previous_power_kw', 'next_power_kw') }}
                        as allowed_over_kwh,
                    {{ _counter_allowed('second_previous_at', 'previous_at', 'second_previous_power_kw',
                        'previous_power_kw') }} as allowed_before_kwh,
                    {{ _counter_allowed('second_previous_at', order_by, 'second_previous_power_kw',
                        'current_power_kw') }} as allowed_back_kwh
                from (
                    select
                        {{ carried }},
                        {%- if order_by not in columns %}
                        {{ order_by }},
                        {%- endif %}
                        -- Clamped so that no difference of two readings overflows a double (1e308 - -1e308);
                        -- a reading beyond 1e15 kWh is implausible either way.
                        least(greatest({{ value }}, -1e15), 1e15) as current_kwh,
                        lag(least(greatest({{ value }}, -1e15), 1e15)) over ({{ window }}) as previous_kwh,
                        lag(least(greatest({{ value }}, -1e15), 1e15), 2) over ({{ window }})
                            as second_previous_kwh,
                        lead(least(greatest({{ value }}, -1e15), 1e15)) over ({{ window }}) as next_kwh,
                        lag({{ order_by }}) over ({{ window }}) as previous_at,
                        lag({{ order_by }}, 2) over ({{ window }}) as second_previous_at,
                        lead({{ order_by }}) over ({{ window }}) as next_at,
                        {{ max_power_kw }} as current_power_kw,
                        lag({{ max_power_kw }}) over ({{ window }}) as previous_power_kw,
                        lag({{ max_power_kw }}, 2) over ({{ window }}) as second_previous_power_kw,
                        lead({{ max_power_kw }}) over ({{ window }}) as next_power_kw
                    from {{ points }}
                ) as neighbours
            ) as bounded
        ) as flagged
    ) as labelled
{%- endmacro %}


{% macro _counter_allowed(from_at, to_at, from_power_kw, to_power_kw) -%}
    {#- SQL: the largest plausible counter step (kWh) between two points (see counter_steps). -#}
    (
        greatest({{ from_power_kw }}, {{ to_power_kw }})
        * extract(epoch from {{ to_at }} - {{ from_at }})::double precision / 3600.0
        * (1 + {{ var('plausible_power_margin') }})
        + {{ var('counter_tolerance_kwh') }}
    )
{%- endmacro %}


{% macro _counter_plausible(step, allowed) -%}
    {#- SQL condition: a counter step within [-tolerance, allowed]; null when either is null. -#}
    ({{ step }} between -{{ var('counter_tolerance_kwh') }} and {{ allowed }})
{%- endmacro %}
