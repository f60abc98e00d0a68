{#-
    The latest outcome of every data test (data_quality.check_results, written by the on-run-end hook
    record_check_results): one row per check, what it found last time it ran and since when it has been
    failing, for a dashboard or a poller. A test not run by the latest build keeps its last outcome.
-#}
with

results as (

    select * from {{ source('data_quality', 'check_results') }}

),

latest as (

    select distinct on (check_name)
        check_name,
        check_kind,
        tested_model,
        column_name,
        severity,
        status,
        failures,
        message,
        failures_relation,
        run_started_at as checked_at,
        invocation_id
    from results
    order by check_name asc, run_started_at desc

),

last_passed as (

    select
        check_name,
        max(run_started_at) as passed_at
    from results
    where status = 'pass'
    group by check_name

),

final as (

    select
        latest.check_name,
        latest.check_kind,
        latest.tested_model,
        latest.column_name,
        latest.severity,
        latest.status,
        latest.failures,
        latest.message,
        latest.failures_relation,
        latest.checked_at,
        case
            when latest.status in ('warn', 'fail', 'error')
                then (
                    select min(failing.run_started_at)
                    from results as failing
                    where
                        failing.check_name = latest.check_name
                        and failing.run_started_at > coalesce(last_passed.passed_at, '-infinity'::timestamptz)
                )
        end as failing_since,
        latest.invocation_id
    from latest
    left join last_passed
        on latest.check_name = last_passed.check_name

)

select * from final
