"""A load package the database refuses never blocks later loads: its refused job is retried once, then
its rows are quarantined (each a row of the file it came from, with the database's reason) and the
package leaves the queue. The files of those rows are not remembered, so once the cause is gone the
next load reads them again. Here the database refuses rows by a check constraint (value < 1000)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import rows, scalar
from loader_trees import battery_tree

from ingest import binary_copy, pipeline
from ingest.db import Connection
from ingest.errors import GridhouseError
from ingest.pipeline import VENDORS, ensure_raw_tables, load, pipelines_dir


def refuse_big_values(conn: Connection) -> None:
    ensure_raw_tables(conn, [VENDORS["batteries"]])
    with conn.connect() as db:
        db.execute("alter table raw_batteries.telemetry add constraint below_1000 check (value < 1000)")
        db.commit()


def queued(conn: Connection) -> list[Path]:
    folder = pipelines_dir(conn) / "gridhouse_batteries" / "load" / "normalized"
    return sorted(folder.iterdir()) if folder.exists() else []


def log(conn: Connection) -> list[str]:
    return [r[0] for r in rows(conn, "select status from raw_batteries._gridhouse_loads order by loaded_at")]


@pytest.fixture
def copies(monkeypatch) -> list[str]:
    """The tables of every COPY attempted."""
    attempts: list[str] = []
    copy = binary_copy.BinaryCopyJob._copy

    def counted(self, table: str) -> None:
        attempts.append(table)
        copy(self, table)

    monkeypatch.setattr(binary_copy.BinaryCopyJob, "_copy", counted)
    return attempts


def test_a_refused_job_is_retried_once_then_quarantined_and_blocks_nothing(
    fresh_db, tmp_path: Path, copies: list[str]
) -> None:
    refuse_big_values(fresh_db)
    tree = tmp_path / "bad" / "batteries"
    points = battery_tree(tree, ["d1", "d2"], points=20)  # d2's power and counter values are 1000 and more
    per_file = {d: sum(1 for (device, _, _) in points if device == d) for d in ("d1", "d2")}

    report = load("batteries", tree, fresh_db)

    # one telemetry job (both files' rows in one batch): tried, retried once, then set aside
    assert [t for t in copies if "telemetry" in t] == ['"raw_batteries"."telemetry"'] * 2
    assert {f.file: (f.read, f.loaded, f.quarantined) for f in report.files} == {
        "assets/assets.json": (2, 2, 0),
        "telemetry/d1.json": (per_file["d1"], 0, per_file["d1"]),
        "telemetry/d2.json": (per_file["d2"], 0, per_file["d2"]),
    }
    assert log(fresh_db) == ["finished"] and queued(fresh_db) == []
    held = rows(fresh_db, "select source_file, position, reason, raw_text from raw_batteries.quarantine")
    assert len(held) == len(points)
    got = {}
    for source, position, reason, raw in held:
        assert "violates check constraint" in reason and "retried once" in reason
        row = json.loads(raw)
        assert source == f"telemetry/{row['device_id']}.json"
        assert position == (
            f"telemetry device_id={row['device_id']}, series_name={row['series_name']}, epoch_ms={row['epoch_ms']}"
        )
        got[(row["device_id"], row["series_name"], row["epoch_ms"])] = row["value"]
    assert got == points
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry") == 0
    # neither file nor series is remembered: their rows are not held
    assert rows(fresh_db, "select source_file from raw_batteries._gridhouse_files") == [
        ("assets/assets.json",)
    ]
    assert scalar(fresh_db, "select count(*) from raw_batteries._gridhouse_series") == 0

    clean = tmp_path / "clean" / "batteries"
    clean_points = battery_tree(clean, ["c1"], points=20)  # values below 1000
    report = load("batteries", clean, fresh_db)
    assert (report.read, report.loaded, report.quarantined) == (1 + len(clean_points),) * 2 + (0,)
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry") == len(clean_points)

    with fresh_db.connect() as db:  # the cause goes away: the same files load whole
        db.execute("alter table raw_batteries.telemetry drop constraint below_1000")
        db.commit()
    report = load("batteries", tree, fresh_db)
    assert {f.file: (f.read, f.loaded, f.unchanged) for f in report.files} == {
        "assets/assets.json": (2, 2, False),  # the clean tree's assets.json came in between
        "telemetry/d1.json": (per_file["d1"], per_file["d1"], False),
        "telemetry/d2.json": (per_file["d2"], per_file["d2"], False),
    }
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry") == len(points) + len(clean_points)
    assert log(fresh_db) == ["finished"] * 3 and queued(fresh_db) == []


def test_a_package_left_queued_is_retried_then_quarantined_by_the_next_load(
    fresh_db, tmp_path: Path, monkeypatch
) -> None:
    """The issue's probe: a package whose COPY failed stayed queued, and every later load of the vendor
    failed first on it (clean folders and --full-refresh included). Made here by loading once the way
    the loader did before (no retry, no quarantine)."""
    refuse_big_values(fresh_db)
    tree = tmp_path / "bad" / "batteries"
    points = battery_tree(tree, ["d1", "d2"], points=10)
    with monkeypatch.context() as patched:
        patched.setattr(
            pipeline, "_load", lambda chosen, conn, path, p, step: pipeline._run(chosen, conn, path, step)
        )
        with pytest.raises(GridhouseError, match="violates check constraint"):
            load("batteries", tree, fresh_db)
    assert log(fresh_db) == ["failed"] and len(queued(fresh_db)) == 1

    clean = tmp_path / "clean" / "batteries"
    clean_points = battery_tree(clean, ["c1"], points=10)
    report = load("batteries", clean, fresh_db, full_refresh=True)

    assert log(fresh_db) == ["failed", "recovered", "finished"] and queued(fresh_db) == []
    assert (report.read, report.loaded, report.quarantined) == (
        1 + len(clean_points),
        1 + len(clean_points),
        0,
    )
    held = {
        (d, s, t): v
        for d, s, t, v in rows(
            fresh_db, "select device_id, series_name, epoch_ms, value from raw_batteries.telemetry"
        )
    }
    assert held == clean_points
    quarantined = rows(fresh_db, "select raw_text from raw_batteries.quarantine")
    assert sorted(tuple(json.loads(r[0]).values()) for r in quarantined) == sorted(
        (d, s, t, v) for (d, s, t), v in points.items()
    )
    recovered = rows(
        fresh_db, "select quarantined from raw_batteries._gridhouse_loads where status = 'recovered'"
    )
    assert recovered == [(len(points),)]
