with

source as (

    select * from {{ source('devices', '_gridhouse_loads') }}

),

final as (

    select
        loaded_at,
        finished_at,
        status,
        -- A load still running (or dead and not yet found by the next load) has rows to come.
        status <> 'running' as has_ended,
        files,
        read,
        loaded,
        corrected,
        quarantined,
        -- A recovery: the dead load whose rows it finished (they carry this load's loaded_at now).
        recovers
    from source

)

select * from final
