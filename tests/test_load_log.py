"""The load log (ingest/loads.py) and the incremental reads that rely on it: one `_loaded_at` per load,
logged with its counts; a build leaves a load that is still running for the next build and then takes it
in whole; a load that died is marked abandoned by the next one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import new_database, rows, scalar

from ingest.build import run_dbt
from ingest.db import Connection
from ingest.pipeline import load

MODELS = "+fct_device_energy_hourly +fleet_energy_now"


def build(conn: Connection) -> None:
    result = run_dbt(conn, ["build", "--select", MODELS], quiet=True)
    assert result.success, dict(result.statuses)


def readings_in(files: list[Path]) -> int:
    return sum(1 for f in files for line in f.read_text().splitlines() if line.strip())


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator import simulate

    out = tmp_path_factory.mktemp("load-log-fleet")
    simulate(out, seed=11, preset="small", families="devices", start="2024-05-01", days=2)
    return out


@pytest.fixture(scope="module")
def day_trees(fleet: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One devices tree per day, each with the registry."""
    trees = []
    for day in sorted((fleet / "devices" / "telemetry").glob("*.jsonl")):
        tree = tmp_path_factory.mktemp(f"day-{day.stem}") / "devices"
        (tree / "telemetry").mkdir(parents=True)
        shutil.copy(fleet / "devices" / "devices.json", tree / "devices.json")
        shutil.copy(day, tree / "telemetry" / day.name)
        trees.append(tree)
    return trees


@pytest.fixture(scope="module")
def warehouse(server, day_trees: list[Path]) -> Connection:
    conn = new_database(server, "load_log")
    load("devices", day_trees[0], conn)
    build(conn)
    return conn


def test_a_load_stamps_its_rows_once_and_logs_its_counts(
    warehouse: Connection, day_trees: list[Path]
) -> None:
    log = rows(
        warehouse,
        "select loaded_at, status, files, read, loaded, quarantined from raw_devices._gridhouse_loads",
    )
    assert len(log) == 1
    loaded_at, status, files, read, loaded, quarantined = log[0]
    day_readings = readings_in(list((day_trees[0] / "telemetry").glob("*.jsonl")))
    devices = len(json.loads((day_trees[0] / "devices.json").read_text()))
    assert (status, files, quarantined) == ("finished", 2, 0)
    assert (read, loaded) == (day_readings + devices, day_readings + devices)
    stamps = rows(warehouse, "select distinct _loaded_at from raw_devices.readings")
    assert stamps == [(loaded_at,)]


def test_a_build_leaves_a_running_load_for_the_next_build(
    warehouse: Connection, day_trees: list[Path]
) -> None:
    first_day = readings_in(list((day_trees[0] / "telemetry").glob("*.jsonl")))
    second_day = readings_in(list((day_trees[1] / "telemetry").glob("*.jsonl")))
    report = load("devices", day_trees[1], warehouse)
    assert report.loaded == second_day  # the registry is unchanged: only the new day's readings
    newest = scalar(warehouse, "select max(loaded_at) from raw_devices._gridhouse_loads")
    assert (
        scalar(warehouse, "select count(*) from raw_devices.readings where _loaded_at = %s", (newest,))
        == second_day
    )
    before = scalar(warehouse, "select last_reading_at from marts.fleet_energy_now where scope = 'fleet'")

    # As if the second load were still writing when dbt started: its rows are there, its log says running.
    with warehouse.connect(autocommit=True) as db:
        db.execute(
            "update raw_devices._gridhouse_loads set status = 'running' where loaded_at = %s", (newest,)
        )
    build(warehouse)
    assert scalar(warehouse, "select count(*) from marts.fct_device_readings") == first_day
    assert (
        scalar(warehouse, "select last_reading_at from marts.fleet_energy_now where scope = 'fleet'")
        == before
    )

    with warehouse.connect(autocommit=True) as db:
        db.execute(
            "update raw_devices._gridhouse_loads set status = 'finished' where loaded_at = %s", (newest,)
        )
    build(warehouse)
    assert scalar(warehouse, "select count(*) from marts.fct_device_readings") == first_day + second_day
    assert (
        scalar(warehouse, "select last_reading_at from marts.fleet_energy_now where scope = 'fleet'") > before
    )
    # the hourly rollup took in the second day whole: its readings add up to every reading held
    assert (
        scalar(warehouse, "select sum(readings) from marts.fct_device_energy_hourly")
        == first_day + second_day
    )
    build(warehouse)  # nothing new: nothing changes
    assert scalar(warehouse, "select count(*) from marts.fct_device_readings") == first_day + second_day


def test_the_next_load_marks_a_dead_load_abandoned(warehouse: Connection, day_trees: list[Path]) -> None:
    with warehouse.connect(autocommit=True) as db:
        db.execute(
            "insert into raw_devices._gridhouse_loads (loaded_at, status) "
            "select max(loaded_at) + interval '1 second', 'running' from raw_devices._gridhouse_loads"
        )
    load("devices", day_trees[1], warehouse)  # unchanged files: reads nothing new, but takes the lock
    statuses = rows(warehouse, "select status from raw_devices._gridhouse_loads order by loaded_at")
    assert statuses == [("finished",), ("finished",), ("abandoned",), ("finished",)]
    stamps = [
        r[0] for r in rows(warehouse, "select loaded_at from raw_devices._gridhouse_loads order by loaded_at")
    ]
    assert stamps == sorted(set(stamps))
