"""TimescaleDB tier: the PGlite build of TimescaleDB (deploy/pglite/) runs the same battery models.

battery_telemetry's storage (int_batteries__telemetry_scaled) must become a hypertable with compression and
a compression policy (asserted from timescaledb_information), and the alert views must give the same rows as plain PostgreSQL for the same
input. npm ci installs the server into deploy/pglite/node_modules when missing; the tier skips with a
reason where node/npm are absent. PGlite cannot COPY, so raw rows are inserted with plain INSERTs.
"""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES, requires_fixtures, rows
from test_battery_support import BATTERY_SELECT, HEERLEN

from ingest.db import Connection

LAST_MS = 1738850618000
LOADED_AT = "2025-02-06 15:00:00+00"

pytestmark = requires_fixtures


def load_raw(conn: Connection) -> None:
    """The fixture batteries plus a low-SoC episode for Heerlen, inserted row by row (no COPY on PGlite),
    as one logged load stamped LOADED_AT (the load log is what the incremental models read)."""
    from ingest.pipeline import VENDORS, ensure_raw_tables

    ensure_raw_tables(conn, [VENDORS["batteries"]])
    assets = json.loads((FIXTURES / "batteries/assets/assets.json").read_text())["items"]
    points = []
    for path in sorted((FIXTURES / "batteries/telemetry").glob("*.json")):
        for series in json.loads(path.read_text())["series"]:
            points += [(path.stem, series["name"], int(t), float(v), path.name) for t, v in series["data"]]
    points += [
        (HEERLEN, "StateOfChargePercentage", LAST_MS + 4000, 19.0, "injected"),
        (HEERLEN, "StateOfChargePercentage", LAST_MS + 8000, 8.5, "injected"),
    ]
    with conn.connect() as db:
        cur = db.cursor()
        cur.executemany(
            "insert into raw_batteries.assets (device_id, description, state, _source_file, _loaded_at, "
            "_dlt_load_id) values (%s, %s, %s, 'assets.json', %s, 't')",
            [(a["deviceId"], a["description"], a["state"], LOADED_AT) for a in assets],
        )
        cur.executemany(
            "insert into raw_batteries.telemetry (device_id, series_name, epoch_ms, value, _source_file, "
            "_loaded_at, _dlt_load_id) values (%s, %s, %s, %s, %s, %s, 't')",
            [(*p, LOADED_AT) for p in points],
        )
        db.execute(
            "insert into raw_batteries._gridhouse_loads (loaded_at, finished_at, status) "
            "values (%s, %s, 'finished')",
            (LOADED_AT, LOADED_AT),
        )


def build(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.build import run_dbt

    monkeypatch.setenv("GRIDHOUSE_DBT_THREADS", "1")
    result = run_dbt(conn, ["build", *BATTERY_SELECT], quiet=True)
    assert result.success, f"dbt build failed: {dict(result.statuses)}"


ALERT_QUERY = (
    "select alert_id, asset_id, description, severity, {value}, threshold, since, last_seen, {message} "
    "from alerts.{view} order by alert_id"
)


def alert_rows(conn: Connection) -> dict[str, list[tuple]]:
    out = {}
    for view in ("battery_low_soc", "battery_no_soc", "battery_vendor_warning", "battery_stale"):
        # Stale alerts measure minutes until now(): compare everything but the moving value and message.
        moving = view == "battery_stale"
        query = ALERT_QUERY.format(
            view=view, value="null" if moving else "value", message="null" if moving else "message"
        )
        out[view] = rows(conn, query)
    return out


def test_timescale_hypertable_and_same_alerts_as_postgres(timescale, fresh_db, monkeypatch):
    load_raw(timescale)
    build(timescale, monkeypatch)
    hypertables = rows(
        timescale,
        "select hypertable_schema, compression_enabled from timescaledb_information.hypertables "
        "where hypertable_name = 'int_batteries__telemetry_scaled'",
    )
    assert hypertables == [("intermediate", True)]
    settings = dict(
        rows(
            timescale,
            "select attname, coalesce(segmentby_column_index::text, 'orderby ' || orderby_asc::text) "
            "from timescaledb_information.compression_settings "
            "where hypertable_name = 'int_batteries__telemetry_scaled'",
        )
    )
    assert settings == {
        "asset_id": "1",
        "metric": "2",
        "unit": "3",
        "value_decimals": "4",
        "measured_at": "orderby false",
    }
    policies = rows(
        timescale,
        "select proc_name from timescaledb_information.jobs "
        "where hypertable_name = 'int_batteries__telemetry_scaled'",
    )
    assert ("policy_compression",) in policies
    # A second build is an incremental no-op on the hypertable too.
    build(timescale, monkeypatch)
    assert rows(timescale, "select count(*) from marts.battery_telemetry") == [(377,)]

    load_raw(fresh_db)
    build(fresh_db, monkeypatch)
    assert rows(fresh_db, "select count(*) from marts.battery_telemetry") == [(377,)]
    on_postgres, on_timescale = alert_rows(fresh_db), alert_rows(timescale)
    assert on_timescale == on_postgres
    assert [r[1] for r in on_timescale["battery_low_soc"]] == [HEERLEN]
