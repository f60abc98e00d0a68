"""Shared fixtures for the battery tests: a simulated fleet with truth, loaded and built once per session.

Imported by the other test_battery_* / test_alerts* / test_grants* modules (no tests here).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import new_database

from ingest.db import Connection

SIM_SEED = 5
SIM_KNOBS = {"families": "batteries", "batteries": 10, "days": 3}
# The battery models and the seed of datasheet figures they read (battery_specs).
BATTERY_SELECT = ["--select", "source:batteries+", "battery_specs"]


@dataclass(frozen=True)
class SimWarehouse:
    conn: Connection
    tree: Path

    def truth(self, name: str) -> list[dict[str, str]]:
        with (self.tree / "truth" / f"{name}.csv").open(encoding="utf-8") as handle:
            return list(csv.DictReader(handle))


def nominal_vars(tree: Path) -> str:
    """The asset register's nominal capacities (the vendor does not publish them) as dbt --vars."""
    with (tree / "truth" / "battery_assets.csv").open(encoding="utf-8") as handle:
        nominal = {row["device_id"]: float(row["nominal_capacity_kwh"]) for row in csv.DictReader(handle)}
    return json.dumps({"battery_nominal_capacity_kwh": nominal})


def build_batteries(conn: Connection, tree: Path, *extra: str) -> None:
    from ingest.build import run_dbt

    result = run_dbt(conn, ["build", *BATTERY_SELECT, "--vars", nominal_vars(tree), *extra], quiet=True)
    assert result.success, f"dbt build failed on the simulated fleet: {dict(result.statuses)}"


def make_sim_warehouse(server, root: Path, name: str) -> SimWarehouse:
    import simulator
    from ingest.pipeline import load

    tree = root / "fleet"
    if not (tree / "truth").exists():
        simulator.simulate(tree, seed=SIM_SEED, **SIM_KNOBS)
    conn = new_database(server, name)
    load("batteries", tree / "batteries", conn)
    build_batteries(conn, tree)
    return SimWarehouse(conn, tree)


@pytest.fixture(scope="session", name="battery_sim")
def battery_sim_fixture(server, tmp_path_factory: pytest.TempPathFactory) -> SimWarehouse:
    """A simulated battery fleet (10 assets, 3 days, every event kind) loaded and built; read-only."""
    return make_sim_warehouse(server, tmp_path_factory.mktemp("battery-sim"), "battery_sim")


HEERLEN = "200e55ab-790b-4049-bf23-f84dc866dd32"  # the fixture asset with SoC 95 -> 81


def build_fixture_batteries(conn: Connection, *extra: str) -> None:
    """dbt build of the battery models only (quiet), asserting success."""
    from ingest.build import run_dbt

    result = run_dbt(conn, ["build", *BATTERY_SELECT, *extra], quiet=True)
    assert result.success, f"dbt build failed: {dict(result.statuses)}"


def load_fixture_batteries(conn: Connection, fixtures: Path) -> None:
    from ingest.pipeline import load

    load("batteries", fixtures / "batteries", conn)
    build_fixture_batteries(conn)


def add_points(conn: Connection, asset_id: str, series: str, points: list[tuple[int, float]]) -> None:
    """Append telemetry points to raw as the loader would (a late or new vendor file): one logged load."""
    from ingest.loads import logged_load

    with logged_load(conn, "raw_batteries") as stamp, conn.connect() as db:
        db.cursor().executemany(
            "insert into raw_batteries.telemetry (device_id, series_name, epoch_ms, value, _source_file, "
            "_loaded_at, _dlt_load_id) values (%s, %s, %s, %s, 'test', %s, 'test')",
            [(asset_id, series, t, v, stamp.loaded_at) for t, v in points],
        )
        stamp.files, stamp.read, stamp.loaded, stamp.quarantined = 1, len(points), len(points), 0
