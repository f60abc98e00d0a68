{#- The load log of the meters vendor, as every incremental model reads it (macro load_log). -#}
{{ load_log('meters') }}
