"""Reader roles: `alerting` reads alerts only, `bi_reader` marts only, neither raw nor staging nor
snapshots, and neither writes. Each connects with its own password (made at `gridhouse db start`, granted
by the on-run-end macro) and sees exactly the rows the owner sees in its schema."""

from __future__ import annotations

import psycopg
import pytest
from conftest import requires_fixtures, scalar

from ingest.db import Connection

pytestmark = requires_fixtures

READABLE = {
    "alerting": [
        "alerts.battery_low_soc",
        "alerts.battery_stale",
        "alerts.battery_no_soc",
        "alerts.battery_vendor_warning",
    ],
    "bi_reader": [
        "marts.battery_telemetry",
        "marts.dim_batteries",
        "marts.fct_battery_daily",
        "marts.fct_battery_health",
    ],
}
DENIED = {
    "alerting": [
        "marts.battery_telemetry",
        "marts.dim_batteries",
        "raw_batteries.telemetry",
        "staging.stg_batteries__telemetry",
        "snapshots.snap_batteries__vendor_state",
    ],
    "bi_reader": [
        "alerts.battery_low_soc",
        "raw_batteries.telemetry",
        "raw_batteries.assets",
        "staging.stg_batteries__telemetry",
        "intermediate.int_batteries__soc_points",
    ],
}


@pytest.fixture(scope="module")
def readers(server, fixture_warehouse) -> dict[str, Connection]:
    """Each reader's connection to the warehouse, with the password the embedded server gave it."""
    w = fixture_warehouse
    return {role: Connection(w.host, w.port, role, server.password(role), w.dbname) for role in READABLE}


@pytest.mark.parametrize(("role", "relation"), [(r, t) for r, ts in READABLE.items() for t in ts])
def test_role_reads_its_schema(fixture_warehouse, readers, role, relation):
    with readers[role].connect() as db:
        assert db.execute("select current_user").fetchone()[0] == role
        seen = db.execute(f"select count(*) from {relation}").fetchone()[0]
    assert seen == scalar(fixture_warehouse, f"select count(*) from {relation}")


@pytest.mark.parametrize(("role", "relation"), [(r, t) for r, ts in DENIED.items() for t in ts])
def test_role_is_denied_elsewhere(readers, role, relation):
    with readers[role].connect() as db, pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(f"select count(*) from {relation}").fetchone()


# A table each role could most want to change: bi_reader's own mart, the table under alerting's views.
WRITABLE_TARGET = {"alerting": "marts.dim_battery_series", "bi_reader": "marts.dim_batteries"}


@pytest.mark.parametrize("role", list(READABLE))
def test_roles_cannot_write_or_create(fixture_warehouse, readers, role):
    table = WRITABLE_TARGET[role]
    before = scalar(fixture_warehouse, f"select count(*) from {table}")
    for statement in (
        f"delete from {table}",
        f"update {table} set asset_id = 'x'",
        "create table marts.mine (x int)",
        "create table alerts.mine (x int)",
        "create schema mine",
    ):
        with readers[role].connect() as db, pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(statement)
    assert scalar(fixture_warehouse, f"select count(*) from {table}") == before > 0
