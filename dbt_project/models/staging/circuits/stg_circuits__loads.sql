{#- The load log of the circuits vendor, as every incremental model reads it (macro load_log). -#}
{{ load_log('circuits') }}
