{#-
    The files no record of which could be read (quarantined whole, position `$`: not JSON, cut short, a
    wrong kind of file), newest delivery first. A small latest-state table that alerts.battery_feed_unreadable
    reads on every poll: every row recomputed on every run and written over the rows it holds
    (delete+insert on the key, in one transaction, also under --full-refresh), so the view over it is
    never dropped.
-#}
{{
    config(
        materialized='incremental_in_place',
        incremental_strategy='delete+insert',
        unique_key=['vendor', 'source_file'],
        on_schema_change='fail',
    )
}}

with

quarantined as (

    select * from {{ ref('quarantined_records') }}

),

final as (

    select
        vendor,
        source_file,
        reason,
        loaded_at
    from quarantined
    where position_in_file = '$'

)

select * from final
