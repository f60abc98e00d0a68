"""Loads started at the same moment into a fresh database: the first of each vendor creates its schema
and tables while the others wait their turn (ingest/pipeline.py tables_lock), so none fails on the catalog
(UniqueViolation / DuplicateObject) and every row lands once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import rows, scalar
from loader_trees import battery_tree, meter_record, write_json

from ingest.db import PROJECT_ROOT

# Each process imports everything, says it is ready, waits for "go", then loads: the loads meet in
# ensure_raw_tables() at the same moment.
LOAD_ON_GO = """
import json, os, sys, time
from pathlib import Path
from ingest.db import resolve
from ingest.pipeline import load
ready, go = Path(sys.argv[3]), Path(sys.argv[4])
conn = resolve()
ready.touch()
while not go.exists():
    time.sleep(0.002)
report = load(sys.argv[1], Path(sys.argv[2]), conn)
print(json.dumps({"read": report.read, "loaded": report.loaded, "quarantined": report.quarantined,
                  "unchanged": report.unchanged_files, "files": len(report.files)}))
"""


def test_concurrent_first_loads_into_a_fresh_database(fresh_db, tmp_path: Path) -> None:
    points = battery_tree(tmp_path / "batteries", ["d1", "d2"], points=40)
    stamps = [f"2023-03-01T{h:02d}:{m:02d}:00.000Z" for h in range(3) for m in (0, 15, 30, 45)]
    write_json(tmp_path / "meters" / "a.json", {"data": [meter_record("m1", t, 0.5) for t in stamps]})
    jobs = [("batteries", tmp_path / "batteries"), ("batteries", tmp_path / "batteries")]
    jobs += [("meters", tmp_path / "meters"), ("meters", tmp_path / "meters")]
    go = tmp_path / "go"
    env = dict(os.environ, GRIDHOUSE_DSN=fresh_db.url())
    processes = []
    for n, (vendor, path) in enumerate(jobs):
        ready = tmp_path / f"ready{n}"
        args = [sys.executable, "-c", LOAD_ON_GO, vendor, str(path), str(ready), str(go)]
        processes.append(
            (
                ready,
                subprocess.Popen(
                    args, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                ),
            )
        )
    deadline = time.monotonic() + 240
    while not all(ready.exists() for ready, _ in processes) and time.monotonic() < deadline:
        assert all(p.poll() is None for _, p in processes), [p.stderr.read() for _, p in processes]
        time.sleep(0.05)
    go.touch()
    reports = []
    for _, process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()[-3000:]
        assert b"Traceback" not in err
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))

    # per vendor: one load read everything, the other found the same files already loaded
    for first, second, files, records in ((0, 1, 3, 2 + len(points)), (2, 3, 1, len(stamps))):
        pair = sorted((reports[first], reports[second]), key=lambda r: r["unchanged"])
        assert pair[0] == {
            "read": records,
            "loaded": records,
            "quarantined": 0,
            "unchanged": 0,
            "files": files,
        }
        assert pair[1] == {"read": 0, "loaded": 0, "quarantined": 0, "unchanged": files, "files": files}
    got = rows(fresh_db, "select device_id, series_name, epoch_ms, value from raw_batteries.telemetry")
    assert {(d, s, t): v for d, s, t, v in got} == points and len(got) == len(points)
    assert scalar(fresh_db, "select count(*) from raw_meters.readings") == len(stamps)
    for dataset in ("raw_batteries", "raw_meters"):
        statuses = rows(fresh_db, f"select status from {dataset}._gridhouse_loads")
        assert statuses == [("finished",), ("finished",)]
