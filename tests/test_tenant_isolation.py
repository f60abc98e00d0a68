"""One tenant per database (seed 001): with GRIDHOUSE_TENANT set, `gridhouse load meters` reads only
the meters that the folder's tenants.csv gives that tenant, and dbt stamps that tenant on every row.
Nothing of another tenant reaches the database: not raw rows, not quarantine, not marts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import new_database, rows

from ingest.build import run_dbt
from ingest.db import Connection
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


def tenant_database(server, fleet: Path, tenant: str, monkeypatch: pytest.MonkeyPatch) -> Connection:
    conn = new_database(server, f"tenant_{tenant.replace('-', '_')}")
    monkeypatch.setenv("GRIDHOUSE_TENANT", tenant)
    load("meters", fleet / "meters", conn)
    result = run_dbt(conn, ["build", "--select", MODELS], quiet=True)
    assert result.success, dict(result.statuses)
    return conn


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
def test_a_tenant_run_never_sees_another_tenants_rows(server, fleet, tenant, monkeypatch):
    owner = owners(fleet)
    assert set(owner.values()) == {"tenant-01", "tenant-02"}
    conn = tenant_database(server, fleet, tenant, monkeypatch)
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
