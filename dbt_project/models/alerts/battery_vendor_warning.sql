with

batteries as (

    select * from {{ ref('dim_batteries') }}

),

final as (

    select
        md5('battery_vendor_warning|' || asset_id || '|' || vendor_not_ok_since::text)::text as alert_id,
        asset_id,
        asset_name as description,
        case
            when vendor_state = 'Warning' then 'warning'
            else 'critical'
        end::text as severity,
        null::double precision as value,
        null::double precision as threshold,
        vendor_not_ok_since as since,
        coalesce(last_measured_at, loaded_at) as last_seen,
        format(
            '%s: vendor state is %s (not Ok since %s)',
            asset_name,
            vendor_state,
            to_char(vendor_not_ok_since at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
        ) as message,
        {{ reference_time() }} as checked_at
    from batteries
    where vendor_state <> 'Ok'

)

select * from final
