{#- The load log of the batteries vendor, as every incremental model reads it (macro load_log). -#}
{{ load_log('batteries') }}
