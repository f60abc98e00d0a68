{#
    Generic test: the contract every alert view keeps for its pollers, in one test instead of one per
    column: alert_id, asset_id, severity, since and message are never null, severity is `warning` or
    `critical`, and alert_id is unique. Fails with each broken row and the reason.
#}
{% test alert_contract(model) %}

with

alerts as (

    select * from {{ model }}

),

missing as (

    select
        alert_id,
        'alert_id, asset_id, severity, since or message is null' as reason
    from alerts
    where
        alert_id is null
        or asset_id is null
        or severity is null
        or since is null
        or message is null

),

unknown_severity as (

    select
        alert_id,
        'severity ' || severity || ' is not warning or critical' as reason
    from alerts
    where severity not in ('warning', 'critical')

),

repeated as (

    select
        alert_id,
        'alert_id appears ' || count(*) || ' times' as reason
    from alerts
    group by alert_id
    having count(*) > 1

),

final as (

    select * from missing
    union all
    select * from unknown_severity
    union all
    select * from repeated

)

select * from final

{% endtest %}
