"""TimescaleDB tier for the smart-home rollups: on the PGlite build of TimescaleDB (deploy/pglite/) the
same models become a hypertable (fct_device_readings, chunked by local time) and hierarchical continuous
aggregates hourly -> daily -> monthly, with refresh and retention policies from the retention tiers, and
give the simulator's truth at every grain. The loader writes with INSERTs there (PGlite has no COPY).
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import rows, scalar
from test_device_marts import REL, home_zones, period_key, truth_hours

from ingest.build import run_dbt
from ingest.db import Connection
from ingest.pipeline import load

SELECT = ["--select", "+fct_home_energy_summary"]
ROLLUPS = ("fct_device_energy_hourly", "fct_device_energy_daily", "fct_device_energy_monthly")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator import simulate

    out = tmp_path_factory.mktemp("ts-device-fleet")
    simulate(out, seed=5, preset="small", families="devices", start="2024-03-30", days=3)
    return out


def load_devices(conn: Connection, tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDHOUSE_LOADER_FORMAT", "insert_values")
    monkeypatch.setenv("LOAD__WORKERS", "1")
    report = load("devices", tree, conn)
    assert report.quarantined == 0
    # PGlite serves every connection from one backend session: put back the search_path dlt changed.
    with conn.connect(autocommit=True) as db:
        db.execute("""select set_config('search_path', '"$user", public', false)""")


def build(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDHOUSE_DBT_THREADS", "1")
    result = run_dbt(conn, ["build", *SELECT], quiet=True)
    assert result.success, f"dbt build failed: {dict(result.statuses)}"


def summary(conn: Connection, grain: str) -> dict[tuple, tuple[float, float, float]]:
    return {
        (home, start if grain == "hour" else local): (p, c, n)
        for home, start, local, p, c, n in rows(
            conn,
            "select home_id, period_start, local_date, produced_kwh, consumed_kwh, net_kwh "
            "from marts.fct_home_energy_summary where grain = %s",
            (grain,),
        )
    }


@pytest.fixture(scope="module")
def warehouse(timescale: Connection, fleet: Path, tmp_path_factory: pytest.TempPathFactory) -> Connection:
    """The first day loaded and built (the aggregates are created), then the rest (they are refreshed)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        first = tmp_path_factory.mktemp("ts-devices-day1") / "devices"
        (first / "telemetry").mkdir(parents=True)
        shutil.copy(fleet / "devices" / "devices.json", first / "devices.json")
        day1 = sorted((fleet / "devices" / "telemetry").glob("*.jsonl"))[0]
        shutil.copy(day1, first / "telemetry" / day1.name)
        load_devices(timescale, first, monkeypatch)
        build(timescale, monkeypatch)
        load_devices(timescale, fleet / "devices", monkeypatch)
        build(timescale, monkeypatch)
    return timescale


def test_rollups_are_hierarchical_continuous_aggregates_with_the_tiers_policies(warehouse):
    parents = dict(
        rows(
            warehouse,
            "select c.user_view_name, p.user_view_name from _timescaledb_catalog.continuous_agg as c "
            "left join _timescaledb_catalog.continuous_agg as p on p.mat_hypertable_id = c.parent_mat_hypertable_id "
            "where c.user_view_schema = 'marts'",
        )
    )
    assert parents == {
        "fct_device_energy_hourly": None,
        "fct_device_energy_daily": "fct_device_energy_hourly",
        "fct_device_energy_monthly": "fct_device_energy_daily",
    }
    dimension = rows(
        warehouse,
        "select column_name, column_type from timescaledb_information.dimensions "
        "where hypertable_schema = 'marts' and hypertable_name = 'fct_device_readings'",
    )
    assert dimension == [("local_measured_at", "timestamp without time zone")]
    jobs = rows(
        warehouse,
        "select j.proc_name, coalesce(c.view_name, j.hypertable_name), "
        "coalesce(j.config ->> 'drop_after', j.config ->> 'start_offset', j.config ->> 'compress_after') "
        "from timescaledb_information.jobs as j left join timescaledb_information.continuous_aggregates as c "
        "on c.materialization_hypertable_name = j.hypertable_name "
        "where j.proc_name like 'policy_%%' and (j.hypertable_schema = 'marts' or c.view_schema = 'marts') "
        "and coalesce(c.view_name, j.hypertable_name) not like 'battery%%' order by 1, 2",
    )
    assert jobs == [
        ("policy_compression", "fct_device_readings", "2 days"),
        ("policy_refresh_continuous_aggregate", "fct_device_energy_daily", "30 days"),
        ("policy_refresh_continuous_aggregate", "fct_device_energy_hourly", "3 days"),
        ("policy_refresh_continuous_aggregate", "fct_device_energy_monthly", "400 days"),
        ("policy_retention", "fct_device_energy_daily", "730 days"),
        ("policy_retention", "fct_device_energy_hourly", "90 days"),
        ("policy_retention", "fct_device_readings", "7 days"),
    ]
    # The dbt run refreshed them: the materialized hypertables hold the rows (not only real-time).
    for view in ROLLUPS:
        table = scalar(
            warehouse,
            "select format('%%I.%%I', materialization_hypertable_schema, materialization_hypertable_name) "
            "from timescaledb_information.continuous_aggregates where view_name = %s",
            (view,),
        )
        assert scalar(warehouse, f"select count(*) from {table}") == scalar(
            warehouse, f"select count(*) from marts.{view}"
        ), view


@pytest.mark.parametrize("grain", ["hour", "day", "week", "month"])
def test_home_energy_on_timescale_matches_truth(warehouse, fleet, grain):
    hours = truth_hours(fleet)
    zones = home_zones(fleet)
    want: dict[tuple, dict[str, float]] = {}
    for (home, hour), values in hours.items():
        key = (home, hour if grain == "hour" else period_key(grain, hour, zones[home]))
        bucket = want.setdefault(key, dict.fromkeys(values, 0.0))
        for k, v in values.items():
            bucket[k] += v
    got = summary(warehouse, grain)
    assert set(got) <= set(want)
    assert {k for k, v in want.items() if v["produced_kwh"] or v["consumed_kwh"]} <= set(got)
    for key, (produced, consumed, net) in got.items():
        assert produced == pytest.approx(want[key]["produced_kwh"], rel=REL, abs=1e-9), key
        assert consumed == pytest.approx(want[key]["consumed_kwh"], rel=REL, abs=1e-9), key
        assert net == pytest.approx(want[key]["net_kwh"], rel=REL, abs=1e-6), key


def test_rebuild_changes_nothing_and_a_late_reading_reaches_every_tier(warehouse, monkeypatch):
    before = {grain: summary(warehouse, grain) for grain in ("hour", "day", "month")}
    build(warehouse, monkeypatch)
    assert {grain: summary(warehouse, grain) for grain in ("hour", "day", "month")} == before

    # A reading for an hour the aggregates have materialized: 2 kWh produced, loaded now.
    device, home, hour = rows(
        warehouse,
        "select device_id, home_id, hour_start from marts.fct_device_energy_hourly "
        "order by hour_start, device_id limit 1",
    )[0]
    from ingest.loads import logged_load

    with logged_load(warehouse, "raw_devices") as stamp, warehouse.connect() as db:
        db.execute(
            "insert into raw_devices.readings (device_id, timestamp_iso, measured_at, power_w, energy_wh, "
            "_source_file, _loaded_at, _dlt_load_id) values (%s, %s, %s, 0, 2000, 'late', %s, 'late')",
            (device, (hour + timedelta(seconds=7)).isoformat(), hour + timedelta(seconds=7), stamp.loaded_at),
        )
    build(warehouse, monkeypatch)
    after = summary(warehouse, "hour")
    assert after[(home, hour)][0] == pytest.approx(before["hour"][(home, hour)][0] + 2.0)
    assert sum(v[0] for v in summary(warehouse, "month").values()) == pytest.approx(
        sum(v[0] for v in before["month"].values()) + 2.0
    )
