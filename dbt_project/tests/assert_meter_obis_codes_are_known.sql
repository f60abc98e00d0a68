-- Every OBIS code seen in the meter data is listed in seeds/obis_codes.csv. Unknown codes are kept
-- (int_meters__readings.is_known_obis_code = false), so this only warns: add the code to the seed.
{{ config(severity='warn') }}

select
    obis_code,
    count(*) as readings
from {{ ref('int_meters__readings') }}
where not is_known_obis_code
group by obis_code
