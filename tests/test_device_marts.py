"""Smart-home device loader and marts against the simulator's truth: home produced / consumed / net per
hour, local day, ISO week and month within 0.5 %, fleet_energy_now from the latest reading per device
computed here from the files, incremental loads, quarantine, and what bi_reader may read."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from conftest import new_database, rows, scalar

from ingest.build import run_dbt
from ingest.db import Connection
from ingest.pipeline import load

DEVICE_MODELS = "+fct_home_energy_summary +fleet_energy_now"
REL = 0.005
DEVICE_MARTS = (
    "dim_devices",
    "fct_device_readings",
    "fct_device_energy_hourly",
    "fct_device_energy_daily",
    "fct_device_energy_monthly",
    "fct_home_energy_daily",
    "fct_home_energy_monthly",
    "fct_home_energy_summary",
    "fleet_energy_now",
)


def build(conn: Connection) -> None:
    result = run_dbt(conn, ["build", "--select", DEVICE_MODELS], quiet=True)
    assert result.success, dict(result.statuses)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator import simulate

    out = tmp_path_factory.mktemp("device-fleet")
    # Three days across a month end, so the month grain has two months.
    simulate(out, seed=5, preset="small", families="devices", start="2024-03-30", days=3)
    return out


@pytest.fixture(scope="module")
def warehouse(server, fleet: Path, tmp_path_factory: pytest.TempPathFactory) -> Connection:
    """The registry and the first day loaded and built, then the rest loaded and built incrementally."""
    conn = new_database(server, "device_marts")
    days = sorted((fleet / "devices" / "telemetry").glob("*.jsonl"))
    first = tmp_path_factory.mktemp("devices-day1") / "devices"
    (first / "telemetry").mkdir(parents=True)
    shutil.copy(fleet / "devices" / "devices.json", first / "devices.json")
    shutil.copy(days[0], first / "telemetry" / days[0].name)
    load("devices", first, conn)
    build(conn)
    report = load("devices", fleet / "devices", conn)
    assert report.quarantined == 0
    build(conn)
    return conn


def truth_hours(fleet: Path) -> dict[tuple[str, datetime], dict[str, float]]:
    out = {}
    with (fleet / "truth" / "home_hourly.csv").open() as f:
        for r in csv.DictReader(f):
            hour = datetime.fromisoformat(r["hour_utc"].replace("Z", "+00:00"))
            out[(r["home_id"], hour)] = {k: float(r[k]) for k in ("produced_kwh", "consumed_kwh", "net_kwh")}
    return out


def home_zones(fleet: Path) -> dict[str, str]:
    return {d["home_id"]: d["timezone"] for d in json.loads((fleet / "devices" / "devices.json").read_text())}


def period_key(grain: str, hour: datetime, tz: str) -> date:
    local = hour.astimezone(ZoneInfo(tz)).date()
    if grain == "day":
        return local
    if grain == "week":
        return local - timedelta(days=local.weekday())
    return local.replace(day=1)


@pytest.mark.parametrize("grain", ["hour", "day", "week", "month"])
def test_home_energy_summary_matches_truth_at_every_grain(warehouse, fleet, grain):
    hours = truth_hours(fleet)
    zones = home_zones(fleet)
    want: dict[tuple[str, object], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (home, hour), values in hours.items():
        key = (home, hour if grain == "hour" else period_key(grain, hour, zones[home]))
        for k, v in values.items():
            want[key][k] += v
    got = {
        (home, (start if grain == "hour" else local)): (p, c, n)
        for home, start, local, p, c, n in rows(
            warehouse,
            "select home_id, period_start, local_date, produced_kwh, consumed_kwh, net_kwh "
            "from marts.fct_home_energy_summary where grain = %s",
            (grain,),
        )
    }
    # The truth lists every hour of every home, also hours without readings (all zeros).
    assert set(got) <= set(want)
    assert {k for k, v in want.items() if v["produced_kwh"] or v["consumed_kwh"]} <= set(got)
    for key, (produced, consumed, net) in got.items():
        assert produced == pytest.approx(want[key]["produced_kwh"], rel=REL, abs=1e-9), key
        assert consumed == pytest.approx(want[key]["consumed_kwh"], rel=REL, abs=1e-9), key
        assert net == pytest.approx(want[key]["net_kwh"], rel=REL, abs=1e-6), key
    if grain == "month":
        assert len({k[1] for k in got}) == 2


def test_one_homes_hours_are_read_by_index_whatever_the_history(warehouse):
    """The API's home-hour question (one home, one day) reaches the hourly tier through the view with
    both filters and is answered by its (home_id, hour_start) index, not a scan of every home's hours,
    which grows with history (bench.api)."""
    home, day = rows(
        warehouse, "select home_id, min(hour_start) from marts.fct_device_energy_hourly group by 1 limit 1"
    )[0]
    with warehouse.connect() as db:
        db.execute("set enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in db.execute(
                "explain select * from marts.fct_home_energy_summary where grain = 'hour' "
                "and home_id = %s and period_start >= %s and period_start < %s + interval '1 day'",
                (home, day, day),
            ).fetchall()
        )
    assert "Index Cond: ((home_id = " in plan and "hour_start >= " in plan, plan


def test_fleet_energy_now_is_the_latest_reading_per_device(warehouse, fleet):
    latest: dict[str, dict] = {}
    for path in sorted((fleet / "devices" / "telemetry").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if r["device_id"] not in latest or r["timestamp"] > latest[r["device_id"]]["timestamp"]:
                latest[r["device_id"]] = r
    registry = {d["device_id"]: d for d in json.loads((fleet / "devices" / "devices.json").read_text())}
    as_of = max(r["timestamp"] for r in latest.values())
    as_of_t = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    fresh = {
        d: r
        for d, r in latest.items()
        if datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")) >= as_of_t - timedelta(minutes=15)
    }
    # "Now" is the clock (simulated data lies in the past): replay the moment of the newest reading.
    replay = json.dumps({"reference_time": as_of})
    assert run_dbt(warehouse, ["run", "--select", "fleet_energy_now", "--vars", replay], quiet=True).success
    fleet_row = rows(
        warehouse,
        "select as_of, devices, devices_stale, production_w, consumption_w, net_w "
        "from marts.fleet_energy_now where scope = 'fleet'",
    )
    assert len(fleet_row) == 1
    got_as_of, devices, stale, production, consumption, net = fleet_row[0]
    assert got_as_of == as_of_t.astimezone(UTC)
    assert devices == len(registry)
    assert stale == len(registry) - len(fresh)
    assert production == pytest.approx(sum(max(r["power_w"], 0) for r in fresh.values()))
    assert consumption == pytest.approx(sum(max(-r["power_w"], 0) for r in fresh.values()))
    assert net == pytest.approx(production - consumption)
    homes = scalar(warehouse, "select count(*) from marts.fleet_energy_now where scope = 'home'")
    assert homes == len({d["home_id"] for d in registry.values()})


def test_incremental_rerun_changes_nothing(warehouse):
    snapshot = "select * from marts.fct_home_energy_daily order by home_id, local_date"
    before = rows(warehouse, snapshot)
    build(warehouse)
    assert rows(warehouse, snapshot) == before


def test_bi_reader_reads_every_device_mart_and_nothing_raw(warehouse):
    reader = Connection(warehouse.host, warehouse.port, "bi_reader", "", warehouse.dbname)
    with reader.connect() as db:
        for mart in DEVICE_MARTS:
            db.execute(f"select * from marts.{mart} limit 1").fetchall()
    for relation in (
        "raw_devices.readings",
        "staging.stg_devices__readings",
        "intermediate.int_devices__latest_state",
    ):
        with reader.connect() as db, pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(f"select * from {relation} limit 1")


def test_loader_quarantines_bad_devices_and_readings(fresh_db, tmp_path):
    folder = tmp_path / "devices"
    (folder / "telemetry").mkdir(parents=True)
    registry = [
        {"device_id": "d1", "home_id": "h1", "kind": "solar_panel", "name": "PV", "timezone": "Europe/Zurich",
         "specs": {"rated_w": 4000.0}},
        {"device_id": "d2", "home_id": "h1", "kind": "toaster", "specs": {}},
        {"device_id": "d1", "home_id": "h1", "kind": "battery", "specs": {}},
    ]  # fmt: skip
    (folder / "devices.json").write_text(json.dumps(registry))
    good = {"device_id": "d1", "timestamp": "2024-04-01T10:00:00Z", "power_w": 1200.0, "energy_wh": 100.0,
            "charge_pct": None, "mode": "producing"}  # fmt: skip
    lines = [
        json.dumps(good),
        json.dumps({**good, "timestamp": "2024-04-01T10:05:00Z", "power_w": "lots"}),
        json.dumps({**good, "timestamp": "yesterday"}),
        json.dumps({**good, "timestamp": "2024-04-01T10:10:00Z", "charge_pct": 140}),
        "{not json",
        json.dumps(good),
    ]
    (folder / "telemetry" / "2024-04-01.jsonl").write_text("\n".join(lines) + "\n")
    report = load("devices", folder, fresh_db)
    assert report.read == 3 + 6
    assert report.loaded == 1 + 1
    assert report.quarantined == 2 + 5
    assert report.read == report.loaded + report.quarantined
    reasons = rows(
        fresh_db, "select position, field from raw_devices.quarantine order by source_file, position"
    )
    assert ("[1]", "kind") in reasons and ("[2]", "device_id") in reasons
    assert (
        ("line 2", "power_w") in reasons
        and ("line 5", None) in reasons
        and ("line 6", "timestamp") in reasons
    )


def test_prune_applies_the_tiers_and_the_rollups_keep_their_history(server, fleet):
    from ingest.prune import prune

    conn = new_database(server, "device_prune")
    load("devices", fleet / "devices", conn)
    build(conn)
    daily = "select home_id, local_date, produced_kwh, consumed_kwh from marts.fct_home_energy_daily order by 1, 2"
    before = rows(conn, daily)
    months_before = rows(conn, "select * from marts.fct_home_energy_monthly order by 1, 2")
    newest = scalar(conn, "select max(timestamp_iso::timestamptz) from raw_devices.readings")
    as_of = newest + timedelta(hours=1)
    dry = prune(conn, as_of=as_of, overrides={"raw": 1, "hourly": 2}, dry_run=True)
    assert {p.tier: p.rows for p in dry}["raw"] > 0
    assert scalar(
        conn, "select min(timestamp_iso::timestamptz) from raw_devices.readings"
    ) < as_of - timedelta(days=1)
    done = prune(conn, as_of=as_of, overrides={"raw": 1, "hourly": 2})
    assert [p.rows for p in done] == [p.rows for p in dry]
    assert scalar(
        conn, "select min(timestamp_iso::timestamptz) from raw_devices.readings"
    ) >= as_of - timedelta(days=1)
    assert scalar(conn, "select min(hour_start) from marts.fct_device_energy_hourly") >= as_of - timedelta(
        days=2
    )
    # A build after pruning recomputes nothing from the shortened raw tier: the daily and monthly
    # tiers keep the days and months the raw and hourly tiers no longer hold.
    build(conn)
    assert rows(conn, daily) == before
    assert rows(conn, "select * from marts.fct_home_energy_monthly order by 1, 2") == months_before


def test_prune_cli_rejects_a_bad_time_in_one_line(capsys):
    from ingest import cli

    assert cli.main(["prune", "--as-of", "soon"]) == 2
    err = capsys.readouterr().err
    assert "--as-of" in err and len(err.strip().splitlines()) == 1
