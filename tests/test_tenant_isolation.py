"""One tenant per database (seed 001): with GRIDHOUSE_TENANT set, `gridhouse load meters` reads only
the meters that the folder's tenants.csv gives that tenant, and dbt stamps that tenant on every row.
Nothing of another tenant reaches the database: not raw rows, not quarantine, not marts.

And the database keeps the other tenants out: it grants CONNECT only to its own readers
(`alerting_<tenant>`, `bi_reader_<tenant>`, with passwords), so another tenant's readers, the plain
readers and PUBLIC are refused at the door. tenant-01 runs as on the embedded server (its database
`gridhouse_tenant_01` made by `gridhouse db start`'s code, ingest/db.py); tenant-02 as on a server of your
own (a database made by someone else, closed by the build's on-run-end macro, macros/grants/)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import new_database, rows, scalar

from ingest.build import run_dbt
from ingest.db import Connection, EmbeddedServer
from ingest.pipeline import load

MODELS = "+fct_meter_daily +fct_meter_tariff_daily +fct_meter_load_profile"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator import simulate

    out = tmp_path_factory.mktemp("tenant-fleet")
    simulate(out, seed=4, preset="small", families="meters", tenants=2)
    return out


def owners(fleet: Path) -> dict[str, str]:
    with (fleet / "meters" / "tenants.csv").open() as f:
        return {r["muid"]: r["tenant"] for r in csv.DictReader(f)}


def build_tenant(conn: Connection, fleet: Path, tenant: str) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRIDHOUSE_TENANT", tenant)
        load("meters", fleet / "meters", conn)
        result = run_dbt(conn, ["build", "--select", MODELS], quiet=True)
    assert result.success, dict(result.statuses)


@pytest.fixture(scope="module")
def tenants(server: EmbeddedServer, fleet: Path) -> Iterator[dict[str, Connection]]:
    """tenant -> the superuser's connection to that tenant's database, both built."""
    admin = server.connection("postgres")
    with admin.connect(autocommit=True) as db:
        db.execute("drop database if exists gridhouse_tenant_01 with (force)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRIDHOUSE_TENANT", "tenant-01")
        one = server.start()  # already running: makes the tenant's database and readers
    assert one.dbname == "gridhouse_tenant_01"
    two = new_database(server, "own_server_tenant_02")
    server.ensure_access("tenant-02", use_env=False)  # the readers' passwords (an administrator's job there)
    build_tenant(one, fleet, "tenant-01")
    build_tenant(two, fleet, "tenant-02")
    yield {"tenant-01": one, "tenant-02": two}


def reader(server: EmbeddedServer, base: str, tenant: str | None, dbname: str) -> Connection:
    from ingest.db import reader_role

    role = reader_role(base, tenant)
    return Connection("127.0.0.1", server.port, role, server.password(role), dbname)


def every_text_value(conn: Connection) -> str:
    """All text of every table in raw_meters, staging, intermediate and marts, as one string."""
    tables = rows(
        conn,
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('raw_meters', 'staging', 'intermediate', 'marts')",
    )
    chunks = []
    for schema, table in tables:
        chunks += [str(r) for r in rows(conn, f'select * from "{schema}"."{table}"')]
    return "\n".join(chunks)


@pytest.mark.parametrize("tenant", ["tenant-01", "tenant-02"])
def test_a_tenant_run_never_sees_another_tenants_rows(fleet, tenants, tenant):
    owner = owners(fleet)
    assert set(owner.values()) == {"tenant-01", "tenant-02"}
    conn = tenants[tenant]
    mine = {m for m, t in owner.items() if t == tenant}
    theirs = set(owner) - mine
    assert {r[0] for r in rows(conn, "select distinct muid from raw_meters.readings")} == mine
    assert {r[0] for r in rows(conn, "select distinct meter_id from marts.fct_meter_daily")} == mine
    assert {r[0] for r in rows(conn, "select distinct tenant_id from marts.fct_meter_interval")} == {tenant}
    assert {r[0] for r in rows(conn, "select distinct tenant_id from marts.fct_meter_daily")} == {tenant}
    text = every_text_value(conn)
    for muid in theirs:
        assert muid not in text
        assert muid[:8] not in text  # not even the file name of another tenant's meter
    other = "tenant-02" if tenant == "tenant-01" else "tenant-01"
    assert other not in text


def test_without_gridhouse_tenant_every_meter_carries_its_mapped_tenant(server, fleet, monkeypatch):
    monkeypatch.delenv("GRIDHOUSE_TENANT", raising=False)
    conn = new_database(server, "tenant_all")
    load("meters", fleet / "meters", conn)
    result = run_dbt(conn, ["build", "--select", MODELS], quiet=True)
    assert result.success, dict(result.statuses)
    got = dict(rows(conn, "select distinct meter_id, tenant_id from marts.fct_meter_daily"))
    assert got == owners(fleet)


def test_a_tenants_database_lets_in_only_its_own_readers(server, fleet, tenants):
    for tenant, conn in tenants.items():
        # PUBLIC holds no privilege on the database; CONNECT goes to its two readers (and its owner).
        acl = rows(
            conn,
            "select coalesce(r.rolname, 'PUBLIC'), a.privilege_type from pg_database d, "
            "aclexplode(d.datacl) a left join pg_roles r on r.oid = a.grantee "
            "where d.datname = current_database() and a.grantee <> d.datdba",
        )
        slug = tenant.replace("-", "_")
        assert sorted(acl) == [(f"alerting_{slug}", "CONNECT"), (f"bi_reader_{slug}", "CONNECT")], tenant

        # Its bi_reader reads its marts, every row of them, with its own password.
        own = reader(server, "bi_reader", tenant, conn.dbname)
        with own.connect() as db:
            seen = db.execute("select count(*) from marts.fct_meter_daily").fetchone()[0]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.execute("select count(*) from raw_meters.readings")
        assert seen == scalar(conn, "select count(*) from marts.fct_meter_daily") > 0
        with reader(server, "alerting", tenant, conn.dbname).connect() as db:
            assert db.execute("select current_user").fetchone()[0] == f"alerting_{slug}"


@pytest.mark.parametrize("base", ["bi_reader", "alerting"])
def test_a_tenants_readers_are_refused_by_another_tenants_database(server, tenants, base):
    refused = []
    for tenant, mine in tenants.items():
        for other, theirs in tenants.items():
            if other == tenant:
                continue
            with pytest.raises(psycopg.OperationalError) as denied:
                psycopg.connect(reader(server, base, tenant, theirs.dbname).url(), connect_timeout=10)
            assert "permission denied for database" in str(denied.value), str(denied.value)
            refused.append((reader(server, base, tenant, mine.dbname).user, theirs.dbname))
        # The plain readers (no tenant) are not let in either.
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(reader(server, base, None, mine.dbname).url(), connect_timeout=10)
    assert sorted(refused) == [
        (f"{base}_tenant_01", "own_server_tenant_02"),
        (f"{base}_tenant_02", "gridhouse_tenant_01"),
    ]
