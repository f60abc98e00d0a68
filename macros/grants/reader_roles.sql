{#
    The consumer roles, created and granted at the end of every dbt run/build (on-run-end):
      alerting   may read the polled views in schema `alerts` and nothing else;
      bi_reader  may read the tables and views in schema `marts` and nothing else.
    Neither may read raw_*, staging, intermediate or snapshots. Both can log in (the embedded database
    trusts local connections; elsewhere an administrator sets a password: `alter role alerting password ...`).
    Roles are cluster-wide and several databases may build at once, so creation tolerates a concurrent twin.
    A schema that does not exist yet (a partial build) is skipped.
#}
{% macro reader_roles() %}
    {%- set roles = {'alerting': 'alerts', 'bi_reader': 'marts'} -%}
    {%- for role, schema in roles.items() %}
do $reader_roles$
begin
    if not exists (select 1 from pg_roles where rolname = '{{ role }}') then
        begin
            create role {{ role }} login;
        exception when duplicate_object or unique_violation then
            null;
        end;
    end if;
    if exists (select 1 from pg_namespace where nspname = '{{ schema }}') then
        grant usage on schema {{ schema }} to {{ role }};
        grant select on all tables in schema {{ schema }} to {{ role }};
    end if;
end
$reader_roles$;
    {%- endfor %}
{% endmacro %}
