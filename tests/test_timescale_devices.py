"""TimescaleDB tier for the smart-home rollups: on the PGlite build of TimescaleDB (deploy/pglite/) the
same models become a hypertable (fct_device_readings, chunked by local time) and hierarchical continuous
aggregates hourly -> daily -> monthly, with refresh policies and, per tier, a retention job that the tier
reading it schedules after its first refresh and that drops only what that tier has materialized.

PGlite has no job scheduler: var timescale_run_jobs_in_build runs every job (CALL run_job) at the start
of each rollup, between two models, and the tests run them again after every build, as a real server may
at any moment. The fleet is from 2024, far older than the raw tier's 7 days, so every raw chunk is dropped
as soon as the hourly tier holds it, and what the tiers hold must still equal the simulator's truth. The
loader writes with INSERTs there (PGlite has no COPY).
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from conftest import rows, scalar
from test_device_marts import REL, home_zones, period_key, truth_hours

from ingest.build import run_dbt
from ingest.db import PROJECT_ROOT, Connection
from ingest.pipeline import load

SELECT = ["--select", "+fct_home_energy_summary"]
ROLLUPS = ("fct_device_energy_hourly", "fct_device_energy_daily", "fct_device_energy_monthly")
# Raw keeps its 7 days (the 2024 fleet is dropped from it); hourly and daily keep 10 years, so they must
# hold the whole fleet after the raw tier is gone. test_default_tiers_... applies the real tiers.
KEEP_HISTORY = {
    "timescale_run_jobs_in_build": True,
    "device_retention_hourly_days": 3650,
    "device_retention_daily_days": 3650,
}


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


def build(conn: Connection, monkeypatch: pytest.MonkeyPatch, variables: dict | None = None) -> None:
    monkeypatch.setenv("GRIDHOUSE_DBT_THREADS", "1")
    args = ["build", *SELECT, "--vars", json.dumps(KEEP_HISTORY if variables is None else variables)]
    result = run_dbt(conn, args, quiet=True)
    assert result.success, f"dbt build failed: {dict(result.statuses)}"


def run_jobs(conn: Connection) -> None:
    """The scheduler's turn: every policy and retention job, once."""
    jobs = [
        job for (job,) in rows(conn, "select job_id from timescaledb_information.jobs where job_id >= 1000")
    ]
    with conn.connect(autocommit=True) as db:
        for job in sorted(jobs):
            db.execute(f"call run_job({job})")


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


def materialized_rows(conn: Connection) -> dict[str, int]:
    """Rows each continuous aggregate has materialized (its hypertable, not the real-time part)."""
    out = {}
    for view in ROLLUPS:
        table = scalar(
            conn,
            "select format('%%I.%%I', materialization_hypertable_schema, materialization_hypertable_name) "
            "from timescaledb_information.continuous_aggregates where view_name = %s",
            (view,),
        )
        out[view] = scalar(conn, f"select count(*) from {table}")
    return out


def device_hours(fleet: Path) -> set[tuple[str, datetime]]:
    """(device, UTC hour) of every reading in the files: the hourly tier's rows (whole-hour offsets)."""
    out = set()
    for path in (fleet / "devices" / "telemetry").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            reading = json.loads(line)
            at = datetime.fromisoformat(reading["timestamp"].replace("Z", "+00:00"))
            out.add((reading["device_id"], at.replace(minute=0, second=0, microsecond=0)))
    return out


@pytest.fixture(scope="module")
def warehouse(timescale: Connection, fleet: Path, tmp_path_factory: pytest.TempPathFactory) -> Connection:
    """Day 1 loaded and built (the aggregates are created, then the policies), the jobs run; then days 2
    and 3, older than the raw tier's retention, loaded after the policies exist and built with the jobs
    firing between models, and the jobs run again."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        first = tmp_path_factory.mktemp("ts-devices-day1") / "devices"
        (first / "telemetry").mkdir(parents=True)
        shutil.copy(fleet / "devices" / "devices.json", first / "devices.json")
        day1 = sorted((fleet / "devices" / "telemetry").glob("*.jsonl"))[0]
        shutil.copy(day1, first / "telemetry" / day1.name)
        load_devices(timescale, first, monkeypatch)
        build(timescale, monkeypatch)
        run_jobs(timescale)
        load_devices(timescale, fleet / "devices", monkeypatch)
        build(timescale, monkeypatch)
        run_jobs(timescale)
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
        "select j.proc_name, coalesce(c.view_name, j.hypertable_name, split_part(j.config ->> 'source', '.', 2)), "
        "coalesce(j.config ->> 'drop_after', j.config ->> 'start_offset', j.config ->> 'compress_after'), "
        "j.config ->> 'reader' "
        "from timescaledb_information.jobs as j left join timescaledb_information.continuous_aggregates as c "
        "on c.materialization_hypertable_name = j.hypertable_name "
        "where j.job_id >= 1000 and coalesce(c.view_name, j.hypertable_name, j.config ->> 'source') "
        "not like '%%battery%%' order by 1, 2",
    )
    assert jobs == [
        (
            "gridhouse_tier_retention",
            "fct_device_energy_daily",
            "3650 days",
            "marts.fct_device_energy_monthly",
        ),
        (
            "gridhouse_tier_retention",
            "fct_device_energy_hourly",
            "3650 days",
            "marts.fct_device_energy_daily",
        ),
        ("gridhouse_tier_retention", "fct_device_readings", "7 days", "marts.fct_device_energy_hourly"),
        ("policy_compression", "fct_device_readings", "2 days", None),
        ("policy_refresh_continuous_aggregate", "fct_device_energy_daily", "30 days", None),
        ("policy_refresh_continuous_aggregate", "fct_device_energy_hourly", "3 days", None),
        ("policy_refresh_continuous_aggregate", "fct_device_energy_monthly", "400 days", None),
    ]
    # persist_docs: each aggregate's comment is its description; the definition's fingerprint and what it
    # has taken in are on its materialization hypertable, where no BI tool looks
    yml = PROJECT_ROOT / "dbt_project" / "models" / "marts" / "devices" / "_marts_devices__rollups.yml"
    described = {m["name"]: m["description"] for m in yaml.safe_load(yml.read_text())["models"]}
    comments = dict(
        rows(
            warehouse,
            "select view_name, obj_description(format('%%I.%%I', view_schema, view_name)::regclass, 'pg_class') "
            "from timescaledb_information.continuous_aggregates where view_schema = 'marts'",
        )
    )
    assert comments == {name: described[name] for name in ROLLUPS}
    fingerprints = [
        text
        for (text,) in rows(
            warehouse,
            "select obj_description(format('%%I.%%I', materialization_hypertable_schema, "
            "materialization_hypertable_name)::regclass, 'pg_class') "
            "from timescaledb_information.continuous_aggregates where view_schema = 'marts'",
        )
    ]
    assert len(fingerprints) == 3
    assert all(text.startswith("gridhouse rollup ") and " taken_in=" in text for text in fingerprints)


def local_days_by_file(fleet: Path) -> dict[str, list[tuple[str, object]]]:
    """Per telemetry file, the (device, local day) of each reading: the raw tier's chunks are local days."""
    zones = {
        d["device_id"]: d["timezone"] for d in json.loads((fleet / "devices" / "devices.json").read_text())
    }
    out = {}
    for path in sorted((fleet / "devices" / "telemetry").glob("*.jsonl")):
        out[path.name] = []
        for line in path.read_text().splitlines():
            reading = json.loads(line)
            at = datetime.fromisoformat(reading["timestamp"].replace("Z", "+00:00"))
            out[path.name].append(
                (reading["device_id"], at.astimezone(ZoneInfo(zones[reading["device_id"]])).date())
            )
    return out


def test_the_raw_tier_is_dropped_and_every_tier_above_holds_the_whole_fleet(warehouse, fleet):
    # Every reading is from 2024: the raw tier's job dropped each local day's chunk once hourly held it,
    # except the days holding the newest load (days 2 and 3), which tell fct_device_readings what it
    # has taken in.
    by_file = local_days_by_file(fleet)
    first, *later = sorted(by_file)
    newest_days = {day for name in later for _, day in by_file[name]}
    kept = sum(1 for name in by_file for _, day in by_file[name] if day in newest_days)
    assert kept < sum(len(v) for v in by_file.values())
    assert scalar(warehouse, "select count(*) from marts.fct_device_readings") == kept
    # The refreshes materialized every bucket (the views are not answering from the real-time part).
    hourly = device_hours(fleet)
    counts = materialized_rows(warehouse)
    assert counts["fct_device_energy_hourly"] == len(hourly)
    for view in ROLLUPS:
        assert counts[view] == scalar(warehouse, f"select count(*) from marts.{view}"), view
    got = set(rows(warehouse, "select device_id, hour_start from marts.fct_device_energy_hourly"))
    assert got == hourly
    readings = sum(len(p.read_text().splitlines()) for p in (fleet / "devices" / "telemetry").glob("*.jsonl"))
    for view in ROLLUPS:
        assert scalar(warehouse, f"select sum(readings) from marts.{view}") == readings, view


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


def late_reading(conn: Connection, device: str, at: datetime, energy_wh: float) -> None:
    """One reading loaded now, as a load of its own."""
    from ingest.loads import logged_load

    with logged_load(conn, "raw_devices") as stamp, conn.connect() as db:
        db.execute(
            "insert into raw_devices.readings (device_id, timestamp_iso, measured_at, power_w, energy_wh, "
            "_source_file, _loaded_at, _dlt_load_id) values (%s, %s, %s, 0, %s, 'late', %s, 'late')",
            (device, at.isoformat(), at, energy_wh, stamp.loaded_at),
        )


def tiers(conn: Connection) -> dict[str, dict]:
    return {grain: summary(conn, grain) for grain in ("hour", "day", "month")}


def test_rebuild_and_jobs_change_nothing_and_late_readings_land_where_they_can(warehouse, monkeypatch):
    before = tiers(warehouse)
    build(warehouse, monkeypatch)
    run_jobs(warehouse)
    assert tiers(warehouse) == before

    # The earliest local hour held: its device's local day has no raw chunk left (only day 1's load
    # reached that local day, and its chunk was dropped).
    device, home, held_hour = rows(
        warehouse,
        "select device_id, home_id, hour_start from marts.fct_device_energy_hourly "
        "order by local_hour, hour_start, device_id limit 1",
    )[0]
    # (Small energies: a reading beyond the device's power is implausible and kept out of the sums.)
    # A reading for the local hour before it, which no home holds: history older than the raw tier's
    # retention, loaded after its job exists, lands in hour, day and month in one build.
    new_hour = held_hour - timedelta(hours=1)
    late_reading(warehouse, device, new_hour + timedelta(minutes=7), 2.0)
    # A reading for the held hour, whose other raw readings the job has dropped: the hour is whole only in
    # the tiers, so it is not recomputed from that one reading; the reading stays in the raw tier.
    late_reading(warehouse, device, held_hour + timedelta(seconds=7), 5.0)
    build(warehouse, monkeypatch)
    run_jobs(warehouse)

    after = tiers(warehouse)
    assert after["hour"][(home, new_hour)][0] == pytest.approx(0.002)
    # (approx: the home views sum device rows in no fixed order)
    assert {k: pytest.approx(v) for k, v in after["hour"].items() if k != (home, new_hour)} == before["hour"]
    for grain in ("day", "month"):
        total = sum(v[0] for v in before[grain].values()) + 0.002
        assert sum(v[0] for v in after[grain].values()) == pytest.approx(total), grain
    # Every other chunk went (materialized, not the newest load); the late readings' local day is kept:
    # one of them is not materialized, and it is the newest load.
    assert sorted(rows(warehouse, "select energy_wh from marts.fct_device_readings")) == [(2.0,), (5.0,)]


def test_default_tiers_drop_hourly_and_daily_history_and_builds_never_bring_it_back(warehouse, monkeypatch):
    """With the real tiers (hourly 90 days, daily 730) the 2024 fleet is older than both: each tier's job
    drops it once the tier above holds it, the monthly tier keeps it, and later builds and jobs agree."""
    month = summary(warehouse, "month")
    defaults = {"timescale_run_jobs_in_build": True}
    build(warehouse, monkeypatch, defaults)
    run_jobs(warehouse)
    run_jobs(warehouse)
    counts = materialized_rows(warehouse)
    assert counts["fct_device_energy_hourly"] == 0
    # The daily tier holds none of the fleet's history; with no hour materialized, hourly's real-time
    # view answers from the raw rows still held (the late readings' day), which daily may take in.
    raw_days = scalar(
        warehouse,
        "select count(distinct (device_id, date_trunc('day', local_measured_at))) from marts.fct_device_readings",
    )
    assert counts["fct_device_energy_daily"] <= raw_days
    assert {k: pytest.approx(v) for k, v in summary(warehouse, "month").items()} == month
    # With nothing materialized the real-time view answers from the raw rows still held, and only them.
    assert scalar(warehouse, "select count(*) from marts.fct_device_energy_hourly") == scalar(
        warehouse,
        "select count(distinct (device_id, date_trunc('hour', measured_at))) from marts.fct_device_readings",
    )
    build(warehouse, monkeypatch, defaults)
    run_jobs(warehouse)
    assert {k: pytest.approx(v) for k, v in summary(warehouse, "month").items()} == month
    again = materialized_rows(warehouse)
    assert again["fct_device_energy_hourly"] == 0
    assert again["fct_device_energy_daily"] <= raw_days
    assert again["fct_device_energy_monthly"] == counts["fct_device_energy_monthly"]
