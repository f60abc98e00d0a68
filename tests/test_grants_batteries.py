"""Roles made by the on-run-end macro: `alerting` reads alerts only, `bi_reader` marts only, neither raw."""

from __future__ import annotations

import psycopg
import pytest
from conftest import requires_fixtures

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


def _as(conn: Connection, role: str) -> Connection:
    return Connection(conn.host, conn.port, role, "", conn.dbname)


@pytest.mark.parametrize(("role", "relation"), [(r, t) for r, ts in READABLE.items() for t in ts])
def test_role_reads_its_schema(fixture_warehouse, role, relation):
    with _as(fixture_warehouse, role).connect() as db:
        db.execute(f"select count(*) from {relation}").fetchone()


@pytest.mark.parametrize(("role", "relation"), [(r, t) for r, ts in DENIED.items() for t in ts])
def test_role_is_denied_elsewhere(fixture_warehouse, role, relation):
    with _as(fixture_warehouse, role).connect() as db, pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(f"select count(*) from {relation}").fetchone()


def test_roles_cannot_write(fixture_warehouse):
    with (
        _as(fixture_warehouse, "bi_reader").connect() as db,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        db.execute("delete from marts.dim_batteries")
