"""`gridhouse sync`: configuration as dlt reads it, nothing new -> no load and no dbt, one vendor new -> only
the nodes downstream of its source, the --every loop, and a re-sync of the same input that changes no row."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import rows, scalar
from loader_trees import battery_tree, meter_record, write_json

from ingest.cli import main
from ingest.db import Connection
from ingest.errors import GridhouseError
from ingest.filestat import file_stat
from ingest.sync import (
    VENDOR_NAMES,
    Configured,
    configured_sources,
    listed_files,
    not_configured_line,
    parse_every,
    run_cycle,
    run_every,
    unchanged_files,
)


def unchanged(conn: Connection, meters: Path) -> int | None:
    with conn.connect() as session:
        return unchanged_files(session, "meters", str(meters))


def later_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader's stat clock 3 s ahead, so files written or touched just now are vouched for by their
    stat (ingest/filestat.py keeps no stat of a file changed within 2 s) without sleeping."""
    monkeypatch.setattr(
        "ingest.filestat.time", SimpleNamespace(time_ns=lambda: time.time_ns() + 3_000_000_000)
    )


def test_every_takes_durations_and_names_a_bad_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert [parse_every(t) for t in ("30s", "15m", "1h", "1h30m", "2M")] == [30, 900, 3600, 5400, 120]
    for bad in ("", "15", "0s", "15x", "-5m", "m", "1.5h", "15 m"):
        with pytest.raises(GridhouseError, match="is not a duration"):
            parse_every(bad)
    assert main(["sync", "--every", "soon"]) == 2  # before any database or file is touched
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--every 'soon' is not a duration" in err[0], err


def test_configuration_as_dlt_resolves_it(tmp_path: Path) -> None:
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "config.toml").write_text(
        '[sources.batteries]\npath = "/srv/batteries"\n[sources.meters]\npath = "/srv/meters"\n'
        '[sources.circuits]\npath = ""\n'
    )
    env = {"SOURCES__METERS__PATH": "http://127.0.0.1:9/api", "SOURCES__DEVICES__PATH": ""}
    found = configured_sources(tmp_path, env)
    assert {v: c and c.location for v, c in found.items()} == {
        "batteries": "/srv/batteries",
        "meters": "http://127.0.0.1:9/api",  # the environment wins, as in dlt
        "circuits": None,  # empty: not configured
        "devices": None,
    }
    assert found["meters"].is_url and found["meters"].origin == "SOURCES__METERS__PATH"
    # dlt itself, from the same folder and environment, reads the same values
    script = "import dlt; print([dlt.config.get(f'sources.{v}.path') for v in ('batteries', 'meters')])"
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == str(["/srv/batteries", "http://127.0.0.1:9/api"])
    (tmp_path / ".dlt" / "config.toml").write_text("[sources.batteries]\npath = 3\n")
    with pytest.raises(GridhouseError, match=r"\[sources.batteries\] path = 3 is not text"):
        configured_sources(tmp_path, {})


def test_listing_names_the_files_the_loader_plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.pipeline import VENDORS

    assert tuple(VENDORS) == VENDOR_NAMES
    battery_tree(tmp_path / "batteries", ["a1", "b2"], 3)
    (tmp_path / "batteries" / "telemetry" / "notes.txt").write_text("not telemetry")
    meters = tmp_path / "meters"
    write_json(meters / "2024" / "a.json", {"data": [meter_record("m1", "2024-04-01T00:00:00Z", 0.1)]})
    (meters / "tenants.csv").write_text("muid,tenant\nm1,acme\n")
    (meters / "README.md").write_text("not a meter file")
    circuits = tmp_path / "circuits"
    circuits.mkdir()
    (circuits / "init.sql").write_text("insert into brand (id, name) values (1, 'x');\n")
    write_json(circuits / "power" / "p.json", [])
    devices = tmp_path / "devices"
    write_json(devices / "devices.json", [])
    (devices / "telemetry").mkdir()
    (devices / "telemetry" / "d.jsonl").write_text("")
    roots = [(v, tmp_path / v) for v in VENDOR_NAMES]
    roots += [("circuits", circuits / "init.sql"), ("devices", devices / "telemetry" / "d.jsonl")]
    for vendor, root in roots:
        planned = [p.file.name for p in VENDORS[vendor].plan(root)]
        assert [name for name, _ in listed_files(vendor, root)] == planned, (vendor, root)
    # a file changed within the filesystem's clock tick is not vouched for by its stat, nor is one whose
    # mtime was just set back (its ctime moved)
    assert file_stat(devices / "devices.json") is None
    os.utime(devices / "devices.json", (time.time() - 60, time.time() - 60))
    assert file_stat(devices / "devices.json") is None
    later_clock(monkeypatch)
    st = (devices / "devices.json").stat()
    assert file_stat(devices / "devices.json") == (st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def test_every_loop_survives_failing_cycles_and_stops_on_sigterm() -> None:
    before = signal.getsignal(signal.SIGTERM)
    calls: list[int] = []

    def cycle() -> int:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("server closed the connection\nsecond line")
        if len(calls) == 2:
            raise GridhouseError("meters: /gone does not exist")
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives while the cycle runs: it ends, then the loop
            return 1
        raise AssertionError("a cycle after SIGTERM")

    lines: list[str] = []
    assert run_every(0, cycle, lines.append) == 0
    assert len(calls) == 3
    assert "cycle failed: RuntimeError: server closed the connection; next cycle in 0 s" in lines[0]
    assert "cycle failed: meters: /gone does not exist" in lines[1]
    assert "SIGTERM: stopping after this cycle" in lines[2]
    assert "cycle ended with code 1" in lines[3] and lines[4].endswith("stopped")
    assert signal.getsignal(signal.SIGTERM) is before

    # asleep between cycles, it stops at once
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
    started = time.monotonic()
    assert run_every(3600, lambda: 0, lines.append) == 0
    assert time.monotonic() - started < 10


def downstream(manifest: Path, source: str) -> set[str]:
    """Every node below the source's tables in dbt's manifest (its child map)."""
    child_map = json.loads(manifest.read_text())["child_map"]
    todo = [n for n in child_map if n.startswith(f"source.gridhouse.{source}.")]
    seen: set[str] = set()
    while todo:
        for child in child_map.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def fingerprint(conn: Connection) -> list[tuple]:
    tables = (
        "raw_meters.readings",
        "raw_meters.quarantine",
        "marts.fct_meter_interval",
        "marts.fct_meter_daily",
    )
    return [
        rows(conn, f"select '{t}', count(*), coalesce(sum(hashtext(r::text)), 0) from {t} as r")[0]
        for t in tables
    ]


def test_sync_builds_only_what_new_loads_feed(
    fresh_db: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.build import build

    # a warehouse built before, as far as the meters' models need: the seeds and the battery dimension
    # their alert and data_quality views also read
    built_before = ["+dim_batteries", "resource_type:seed"]
    kinds = ["--resource-type", "model", "--resource-type", "snapshot", "--resource-type", "seed"]
    assert build(fresh_db, ["--select", *built_before, *kinds], quiet=True).success
    meters = tmp_path / "meters"
    kwh = [0.25 + 0.01 * i for i in range(8)]
    stamps = [f"2024-04-01T{i // 4:02d}:{15 * (i % 4):02d}:00Z" for i in range(8)]
    write_json(
        meters / "m1.json", {"data": [meter_record("m1", t, v) for t, v in zip(stamps, kwh, strict=True)]}
    )
    later_clock(monkeypatch)  # in this process; the CLI run below comes seconds after the file's write
    sources = {v: None for v in VENDOR_NAMES} | {"meters": Configured("meters", str(meters), "test")}

    lines: list[str] = []
    cycle = run_cycle(fresh_db, sources, lines.append, reports=False)
    assert cycle.exit_code == 0 and cycle.built == ["meters"], lines
    assert cycle.selection == ["--select", "source:meters+", "--exclude-resource-type", "unit_test"]
    for vendor in ("batteries", "circuits", "devices"):
        assert not_configured_line(vendor) in lines
    ran = {uid for uid, _ in cycle.build.nodes if uid.split(".")[0] in ("model", "snapshot", "seed")}
    below = downstream(Path(os.environ["DBT_TARGET_PATH"]) / "manifest.json", "meters")
    assert ran == {n for n in below if n.startswith(("model.", "snapshot."))}
    assert "model.gridhouse.fct_meter_interval" in ran and "model.gridhouse.fct_battery_daily" not in ran
    tests = {uid for uid, _ in cycle.build.nodes if uid.startswith("test.")}
    assert tests and tests <= below
    held = rows(fresh_db, "select count(*), sum(import_kwh) from marts.fct_meter_interval")[0]
    assert held[0] == 8 and float(held[1]) == pytest.approx(sum(kwh))
    newest = scalar(fresh_db, "select max(loaded_at) from raw_meters._gridhouse_loads")
    assert rows(fresh_db, "select built_through, status, nodes from raw_meters._gridhouse_builds") == [
        (newest, "success", len(cycle.build.nodes))
    ]
    before = fingerprint(fresh_db)

    # nothing new: no load, no dbt (not even imported), no row changed; as the command runs it
    script = (
        "import sys; from ingest.cli import main; code = main(['sync']); "
        "print('imported', sorted({m.split('.')[0] for m in sys.modules} & {'dbt', 'dlt', 'pyarrow'})); "
        "sys.exit(code)"
    )
    env = {
        **os.environ,
        "GRIDHOUSE_DSN": fresh_db.url(show_password=True),
        "SOURCES__METERS__PATH": str(meters),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert f"meters: nothing new in {meters} (1 files unchanged)" in out
    assert "nothing new to build: dbt not run" in out and "imported []" in out, out
    assert scalar(fresh_db, "select count(*) from raw_meters._gridhouse_loads") == 1
    assert scalar(fresh_db, "select count(*) from raw_meters._gridhouse_builds") == 1
    assert fingerprint(fresh_db) == before

    # the same bytes under a new mtime: read (digest unchanged), nothing built, the new stat remembered
    touched = time.time() - 30
    os.utime(meters / "m1.json", (touched, touched))
    cycle = run_cycle(fresh_db, sources, lines.append, reports=False)
    assert cycle.build is None and [r.unchanged_files for r in cycle.loaded] == [1]
    assert scalar(fresh_db, "select count(*) from raw_meters._gridhouse_builds") == 1
    assert fingerprint(fresh_db) == before
    st = (meters / "m1.json").stat()
    assert rows(fresh_db, "select size_bytes, mtime_ns, ctime_ns from raw_meters._gridhouse_files") == [
        (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    ]
    cycle = run_cycle(fresh_db, sources, lines.append, reports=False)
    assert cycle.loaded == [] and cycle.build is None

    # other bytes of the same size under the same mtime (as `cp -p` or `rsync -t` deliver a correction):
    # the ctime moved, so the file is read and the new value wins
    text = (meters / "m1.json").read_text()
    corrected = text.replace('"0100011D00FF": 0.25', '"0100011D00FF": 0.35', 1)
    assert corrected != text and len(corrected) == len(text)
    (meters / "m1.json").write_text(corrected)
    os.utime(meters / "m1.json", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (meters / "m1.json").stat().st_size == st.st_size
    assert unchanged(fresh_db, meters) is None
    cycle = run_cycle(fresh_db, sources, lines.append, reports=False)
    assert cycle.exit_code == 0 and cycle.built == ["meters"], lines
    held = rows(fresh_db, "select count(*), sum(import_kwh) from marts.fct_meter_interval")[0]
    assert held[0] == 8 and float(held[1]) == pytest.approx(sum(kwh) + 0.10)
    assert unchanged(fresh_db, meters) == 1

    # a configured folder that is not there: one line naming it, exit 2, the other vendors go on
    sources["batteries"] = Configured("batteries", str(tmp_path / "nowhere"), "test")
    lines.clear()
    cycle = run_cycle(fresh_db, sources, lines.append, reports=False)
    assert cycle.exit_code == 2 and cycle.build is None
    assert lines[0].startswith(f"batteries: not loaded: {tmp_path / 'nowhere'} does not exist"), lines
    assert lines[1] == f"meters: nothing new in {meters} (1 files unchanged)"


def test_schedule_files_run_one_sync_every_15_minutes(tmp_path: Path) -> None:
    import shutil

    schedule = Path(__file__).resolve().parent.parent / "deploy" / "schedule"
    timer = (schedule / "gridhouse-sync.timer").read_text()
    service = (schedule / "gridhouse-sync.service").read_text()
    cron = [
        line
        for line in (schedule / "gridhouse-sync.cron").read_text().splitlines()
        if not line.startswith("#")
    ]
    assert "\nOnUnitActiveSec=15min\n" in timer and "\nUnit=gridhouse-sync.service\n" in timer
    assert (
        "\nType=oneshot\n" in service
        and "\nExecStart=/path/to/gridhouse/.venv/bin/gridhouse sync\n" in service
    )
    assert (
        cron[0].startswith("*/15 * * * * cd /path/to/gridhouse && ")
        and ".venv/bin/gridhouse sync " in cron[0]
    )
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the units' syntax is not checked")
    for name in ("gridhouse-sync.service", "gridhouse-sync.timer"):  # as a user installs them
        text = (schedule / name).read_text().replace("/path/to/gridhouse", str(schedule.parent.parent))
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "gridhouse-sync.service", "gridhouse-sync.timer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
