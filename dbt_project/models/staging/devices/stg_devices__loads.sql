{#- The load log of the devices vendor, as every incremental model reads it (macro load_log). -#}
{{ load_log('devices') }}
