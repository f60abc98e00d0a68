"""The loader's memory lives in the target database (ingest/memory.py), nowhere else: a recreated or
restored database gets every row it lacks when the files are loaded again, and the local dlt folder is a
cache whose loss changes no result. Expected rows are computed here from the files written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, new_database, requires_fixtures, rows, scalar
from loader_trees import battery_tree, meter_record, write_json

from ingest.build import build
from ingest.db import Connection
from ingest.pipeline import load, pipelines_dir

MARTS = (
    "marts.battery_telemetry",
    "marts.fct_battery_daily",
    "marts.fct_meter_daily",
    "marts.fct_circuit_usage_hourly",
)


def telemetry(conn: Connection) -> dict[tuple[str, str, int], float]:
    query = "select device_id, series_name, epoch_ms, value from raw_batteries.telemetry"
    return {(d, s, t): v for d, s, t, v in rows(conn, query)}


def report_counts(report) -> list[tuple]:
    return [
        (f.file, f.unchanged, f.read, f.loaded, f.skipped, f.corrected, f.quarantined) for f in report.files
    ]


@requires_fixtures
def test_a_recreated_database_gets_every_row_again(server) -> None:
    expected = {
        "raw_batteries.telemetry": 375,  # 210 + 90 + 75, as the fixture README says
        "raw_batteries.assets": 3,
        "raw_meters.readings": 2 * 2688,
        "raw_circuits.power": 2160,
    }
    conn = new_database(server, "memory_recreated")
    for source in ("batteries", "meters", "circuits"):
        load(source, FIXTURES / source, conn)
    assert {t: scalar(conn, f"select count(*) from {t}") for t in expected} == expected
    assert build(conn, quiet=True).success
    marts = {t: scalar(conn, f"select count(*) from {t}") for t in MARTS}
    assert all(marts.values()), marts

    # Dropped and made anew under the same name: the dlt cache of the old database is still there.
    conn = new_database(server, "memory_recreated")
    assert pipelines_dir(conn).exists()
    again = {source: load(source, FIXTURES / source, conn) for source in ("batteries", "meters", "circuits")}
    assert {t: scalar(conn, f"select count(*) from {t}") for t in expected} == expected
    assert all(not f.unchanged for report in again.values() for f in report.files)
    assert build(conn, quiet=True).success
    assert {t: scalar(conn, f"select count(*) from {t}") for t in MARTS} == marts


def test_deleting_the_dlt_folder_changes_no_result(server, tmp_path: Path) -> None:
    tree = tmp_path / "batteries"
    battery_tree(tree, ["a1", "b2"], points=30)
    grown = tmp_path / "grown"
    expected = battery_tree(grown, ["a1", "b2", "c3"], points=40)  # a1, b2 grew; c3 is new
    results = []
    for forget in (False, True):
        conn = new_database(server, f"memory_cache_{forget}")
        first = load("batteries", tree, conn)
        if forget:
            shutil.rmtree(pipelines_dir(conn))
        shutil.copytree(grown, tree, dirs_exist_ok=True)
        second = load("batteries", tree, conn)
        if forget:
            shutil.rmtree(pipelines_dir(conn))
        third = load("batteries", tree, conn)  # nothing changed: every file is unchanged
        assert telemetry(conn) == expected
        results.append([report_counts(r) for r in (first, second, third)])
        shutil.rmtree(tree)
        battery_tree(tree, ["a1", "b2"], points=30)
    assert results[0] == results[1]
    second = results[1][1]
    # a1 and b2: 30 points per series held (skipped by the marks), 10 new; c3 all new
    assert [f[2:5] for f in second if f[0].startswith("telemetry/")] == [
        (120, 120, 90),
        (120, 120, 90),
        (120, 120, 0),
    ]
    assert all(f[1] for f in results[1][2])


def test_a_database_restored_from_an_older_backup_gets_what_was_loaded_since(server, tmp_path: Path) -> None:
    meters = tmp_path / "meters"
    day = [
        meter_record("m1", f"2024-03-01T{h:02d}:{m:02d}:00.000Z", 0.25 + h / 100)
        for h in range(24)
        for m in (0, 15, 30, 45)
    ]
    write_json(meters / "2024-03-01.json", {"data": day})
    live = new_database(server, "memory_live")
    load("meters", meters, live)
    with Connection(live.host, live.port, live.user, "", "postgres").connect(autocommit=True) as admin:
        admin.execute('drop database if exists "memory_backup"')
        admin.execute('create database "memory_backup" template "memory_live"')  # the backup

    next_day = [meter_record("m1", r["timestamp"].replace("03-01", "03-02"), 0.5) for r in day]
    write_json(meters / "2024-03-02.json", {"data": next_day})
    load("meters", meters, live)
    assert scalar(live, "select count(*) from raw_meters.readings") == 2 * 96

    # Restored from the backup: its memory is the backup's, so the second day's file is read again.
    with Connection(live.host, live.port, live.user, "", "postgres").connect(autocommit=True) as admin:
        admin.execute('drop database "memory_live"')
        admin.execute('create database "memory_live" template "memory_backup"')
    assert scalar(live, "select count(*) from raw_meters.readings") == 96
    report = load("meters", meters, live)
    assert [(f.file, f.unchanged, f.loaded) for f in report.files] == [
        ("meters/2024-03-01.json", True, 0),
        ("meters/2024-03-02.json", False, 96),
    ]
    query = (
        "select (measured_at at time zone 'UTC')::date::text, sum(value) from raw_meters.readings group by 1"
    )
    assert dict(rows(live, query)) == {
        "2024-03-01": pytest.approx(sum(r["0100011D00FF"] for r in day), rel=1e-12),
        "2024-03-02": pytest.approx(96 * 0.5, rel=1e-12),
    }


def test_memory_is_written_with_the_finished_log_row(fresh_db, tmp_path: Path) -> None:
    expected = battery_tree(tmp_path / "batteries", ["a1"], points=10)
    load("batteries", tmp_path / "batteries", fresh_db)
    loaded_at = scalar(
        fresh_db, "select loaded_at from raw_batteries._gridhouse_loads where status = 'finished'"
    )
    files = rows(
        fresh_db,
        "select source_file, loaded_at, read, loaded, corrected, quarantined "
        "from raw_batteries._gridhouse_files order by 1",
    )
    assert files == [
        ("assets/assets.json", loaded_at, 1, 1, 0, 0),
        ("telemetry/a1.json", loaded_at, len(expected), len(expected), 0, 0),
    ]
    marks = rows(fresh_db, "select series, hwm_ms, n from raw_batteries._gridhouse_series order by 1")
    newest = max(t for _, _, t in expected)
    assert marks == [(f"a1\u241f{name}", newest, 10) for name in sorted({s for _, s, _ in expected})]
