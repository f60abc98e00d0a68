"""A load that dies during its COPY is finished by the next command, which then reads its own input
(ingest/pipeline.py recover): the dead load's package in the local dlt cache is loaded, its rows are
re-stamped under a `recovered` log row, and the given folder is loaded as a load of its own. Without the
cache the dead load stays `abandoned`, and loading its files again lands each row once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import rows
from loader_trees import battery_tree

from ingest.db import PROJECT_ROOT, Connection
from ingest.pipeline import load, pipelines_dir

# `gridhouse load batteries DIR` whose process dies right after the COPY of the telemetry file committed,
# before dlt learns of it: what kill -9 during the load step leaves behind.
DIES_AFTER_COPY = """
import os, sys
from ingest import binary_copy
copy = binary_copy.BinaryCopyJob._copy
def copy_then_die(self, table):
    copy(self, table)
    if "telemetry" in table:
        os._exit(9)
binary_copy.BinaryCopyJob._copy = copy_then_die
from ingest.cli import main
sys.exit(main(["load", "batteries", sys.argv[1]]))
"""


def die_during_load(conn: Connection, tree: Path) -> None:
    env = dict(os.environ, GRIDHOUSE_DSN=conn.url())
    result = subprocess.run(
        [sys.executable, "-c", DIES_AFTER_COPY, str(tree)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 9, result.stderr[-2000:]


def telemetry(conn: Connection) -> list[tuple]:
    return rows(
        conn, "select device_id, series_name, epoch_ms, value, _loaded_at from raw_batteries.telemetry"
    )


def log(conn: Connection) -> list[tuple]:
    return rows(
        conn, "select loaded_at, status, recovers from raw_batteries._gridhouse_loads order by loaded_at"
    )


def test_a_dead_load_is_finished_and_the_new_input_still_read(fresh_db, tmp_path: Path) -> None:
    dead_tree, other_tree = tmp_path / "dead" / "batteries", tmp_path / "other" / "batteries"
    dead_points = battery_tree(dead_tree, ["d1", "d2", "d3"], points=200)
    other_points = battery_tree(other_tree, ["o1"], points=50)
    die_during_load(fresh_db, dead_tree)
    assert any((pipelines_dir(fresh_db) / "gridhouse_batteries" / "load" / "normalized").iterdir())
    [(dead, status, _)] = log(fresh_db)
    assert status == "running"
    assert {r[4] for r in telemetry(fresh_db)} == {dead}  # the COPY committed: those rows are there

    report = load("batteries", other_tree, fresh_db)  # one command: recovers, then reads its folder
    assert [f.file for f in report.files] == ["assets/assets.json", "telemetry/o1.json"]
    assert report.loaded == 1 + len(other_points)
    dead_row, recovery, new = log(fresh_db)
    assert dead_row == (dead, "abandoned", None)
    assert recovery[1:] == ("recovered", dead)  # its own row, naming the load it recovers
    assert new[1:] == ("finished", None)
    recovered, finished = recovery[0], new[0]
    got = telemetry(fresh_db)
    assert len(got) == len(dead_points) + len(other_points)  # each row once
    assert {(d, s, t): v for d, s, t, v, _ in got} == {**dead_points, **other_points}
    stamps = {d: at for d, _, _, _, at in got}
    assert stamps == {"d1": recovered, "d2": recovered, "d3": recovered, "o1": finished}
    assets = dict(rows(fresh_db, "select device_id, _loaded_at from raw_batteries.assets"))
    assert assets == {"d1": recovered, "d2": recovered, "d3": recovered, "o1": finished}


def test_without_the_cache_a_dead_load_stays_abandoned(fresh_db, tmp_path: Path) -> None:
    tree = tmp_path / "batteries"
    points = battery_tree(tree, ["d1", "d2"], points=100)
    die_during_load(fresh_db, tree)
    shutil.rmtree(pipelines_dir(fresh_db))
    held = len(telemetry(fresh_db))
    assert held == len(points)  # committed by the dead load: valid rows

    report = load("batteries", tree, fresh_db)  # its files again: nothing remembered, every row read
    assert (report.loaded, report.corrected, report.quarantined) == (2 + len(points), 0, 0)
    assert [r[1:] for r in log(fresh_db)] == [("abandoned", None), ("finished", None)]
    got = telemetry(fresh_db)
    assert len(got) == len(points)
    assert {(d, s, t): v for d, s, t, v, _ in got} == points


def test_after_a_dead_load_the_latest_delivery_still_wins(fresh_db, tmp_path: Path) -> None:
    """A load that died wrote rows its memory never described: the files and series it touched are
    forgotten, so the next delivery of those files is read and upserted, not skipped as known."""
    tree = tmp_path / "batteries"
    points = battery_tree(tree, ["d1"], points=20)
    load("batteries", tree, fresh_db)  # finished: remembers the file and its series
    path = tree / "telemetry" / "d1.json"
    first_version = path.read_text()
    doc = json.loads(first_version)
    doc["series"][0]["data"][5][1] = 77.0  # a correction...
    path.write_text(json.dumps(doc))
    die_during_load(fresh_db, tree)  # ...whose load died once its rows were in telemetry_late
    shutil.rmtree(pipelines_dir(fresh_db))
    assert rows(fresh_db, "select count(*) from raw_batteries.telemetry_late") == [(20,)]

    path.write_text(first_version)  # the vendor publishes the first version again: the latest delivery
    report = load("batteries", tree, fresh_db)
    assert [(f.file, f.unchanged) for f in report.files] == [
        ("assets/assets.json", True),
        ("telemetry/d1.json", False),  # read again, though a finished load had loaded this content
    ]
    assert {(d, s, t): v for d, s, t, v, _ in telemetry(fresh_db)} == points
    assert rows(fresh_db, "select count(*) from raw_batteries.telemetry_late") == [(0,)]
