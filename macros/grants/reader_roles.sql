{#
    The consumer roles, made at the start of every dbt run/build (on-run-start, so each model's `grants:`
    config can name them in its own transaction) and granted again at the end (on-run-end):
      alerting   may read the polled views in schema `alerts` and what the checks found (`data_quality`);
      bi_reader  may read the tables and views in schema `marts` and `data_quality`.
    Neither may read raw_*, staging, intermediate or snapshots.

    With GRIDHOUSE_TENANT set the database is that tenant's (one database per tenant): its readers are
    alerting_<tenant> and bi_reader_<tenant> (the tenant lower-cased, every character other than a-z, 0-9
    and _ replaced by _, as ingest/db.py's tenant_slug does), CONNECT is revoked from PUBLIC and granted to
    those two roles only, so no other tenant's role (nor the plain alerting / bi_reader) can connect. That
    needs the building role to own the database (or be a superuser): the build fails otherwise.

    A role that does not exist yet is created as a login role without a password. On the embedded server
    `gridhouse db start` has already made the roles with generated passwords (ingest/db.py: passwords are
    set from Python, never in SQL that dbt logs); on your own server an administrator sets them
    (`alter role alerting password '...'`). Roles are cluster-wide and several databases may build at once,
    so creation tolerates a concurrent twin. A schema that does not exist yet (a partial build) is skipped.
#}
{% macro reader_roles() %}
    {%- set tenant = env_var('GRIDHOUSE_TENANT', '') -%}
    {%- set suffix = '_' ~ modules.re.sub('[^a-z0-9_]', '_', tenant | lower) if tenant else '' -%}
    {%- set roles = {'alerting' ~ suffix: ['alerts', 'data_quality'], 'bi_reader' ~ suffix: ['marts', 'data_quality']} -%}
    {%- if tenant %}
do $tenant_database$
begin
    if not exists (
        select 1 from pg_database
        where datname = current_database()
            and (pg_has_role(current_user, datdba, 'MEMBER')
                or (select rolsuper from pg_roles where rolname = current_user))
    ) then
        raise exception 'GRIDHOUSE_TENANT is set but role % does not own database %, so it cannot keep other tenants out: build as the database owner', current_user, current_database();
    end if;
    -- Only what is not yet so (several builds may run at once; pg_database rows do not like
    -- concurrent grants).
    if exists (
        select 1 from pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
        where d.datname = current_database() and a.grantee = 0
    ) then
        execute format('revoke connect, temporary on database %I from public', current_database());
    end if;
end
$tenant_database$;
    {%- endif %}
    {%- for role, schemas in roles.items() %}
do $reader_roles$
begin
    if not exists (select 1 from pg_roles where rolname = '{{ role }}') then
        begin
            create role {{ role }} login;
        exception when duplicate_object or unique_violation then
            null;
        end;
    end if;
    {%- if tenant %}
    if not has_database_privilege('{{ role }}', current_database(), 'CONNECT') then
        execute format('grant connect on database %I to {{ role }}', current_database());
    end if;
    {%- endif %}
    {%- for schema in schemas %}
    if exists (select 1 from pg_namespace where nspname = '{{ schema }}') then
        grant usage on schema {{ schema }} to {{ role }};
        grant select on all tables in schema {{ schema }} to {{ role }};
    end if;
    {%- endfor %}
end
$reader_roles$;
    {%- endfor %}
{% endmacro %}
