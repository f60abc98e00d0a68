"""Bad input never stops a load and never vanishes: every bad record is in raw_<vendor>.quarantine
with its file, position and reason, and per file read = loaded + quarantined."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import rows, scalar

from ingest.pipeline import load

GOOD_DEVICE = "11111111-0000-0000-0000-000000000001"


def _write(path: Path, content: str | bytes | object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")


def _battery_tree(root: Path) -> dict[str, int]:
    """A vendor tree with known defects; returns the quarantine rows expected per file."""
    _write(
        root / "assets" / "assets.json",
        {
            "totalCount": 3,
            "items": [
                {"deviceId": GOOD_DEVICE, "description": "Good", "state": "Ok"},
                {"description": "no id"},
                "oops",
            ],
        },
    )
    _write(
        root / "telemetry" / f"{GOOD_DEVICE}.json",
        {
            "series": [
                {
                    "name": "StateOfChargePercentage",
                    "data": [[1000, 50], [2000, "n/a"], [3000], ["yesterday", 5], [4000, 51], [4000, 51]],
                },
                {"name": "BatteryTemperatureFahrenheit", "data": [[1000, 20.5], [2000, 21.0]]},
                {"name": "BatteryPowerW"},
                {"name": "BatteryExportKwh", "data": [[1000, 222270], [2000, 222271.5]]},
            ]
        },
    )
    _write(root / "telemetry" / "22222222-0000-0000-0000-000000000002.json", b"this is not json at all\n")
    _write(
        root / "telemetry" / "33333333-0000-0000-0000-000000000003.json",
        '{"series": [{"name": "BatteryPowerW", "data": [[1000, 5',
    )
    _write(root / "telemetry" / "44444444-0000-0000-0000-000000000004.json", [1, 2, 3])
    return {
        "assets/assets.json": 2,
        f"telemetry/{GOOD_DEVICE}.json": 4
        + 2
        + 1,  # n/a, [3000], "yesterday", duplicate; 2 unknown-unit points; no data
        "telemetry/22222222-0000-0000-0000-000000000002.json": 1,
        "telemetry/33333333-0000-0000-0000-000000000003.json": 1,
        "telemetry/44444444-0000-0000-0000-000000000004.json": 1,
    }


def test_broken_battery_files_load_the_good_and_quarantine_the_rest(fresh_db, tmp_path: Path):
    expected = _battery_tree(tmp_path / "batteries")
    report = load("batteries", tmp_path / "batteries", fresh_db)
    per_file = {f.file: f for f in report.files}
    assert {name: f.quarantined for name, f in per_file.items()} == expected
    for f in report.files:
        assert f.read == f.loaded + f.quarantined, f.file
        in_db = scalar(
            fresh_db, "select count(*) from raw_batteries.quarantine where source_file = %s", (f.file,)
        )
        assert in_db == f.quarantined, f.file
    good = sorted(rows(fresh_db, "select series_name, epoch_ms, value from raw_batteries.telemetry"))
    assert good == [
        ("BatteryExportKwh", 1000, 222270.0),
        ("BatteryExportKwh", 2000, 222271.5),
        ("StateOfChargePercentage", 1000, 50.0),
        ("StateOfChargePercentage", 4000, 51.0),
    ]
    assert scalar(fresh_db, "select count(*) from raw_batteries.assets") == 1
    reasons = dict(
        rows(
            fresh_db,
            "select position, reason from raw_batteries.quarantine where source_file = %s",
            (f"telemetry/{GOOD_DEVICE}.json",),
        )
    )
    assert reasons["series[0].data[1]"].startswith("non-numeric value 'n/a'")
    assert reasons["series[0].data[3]"].startswith("unparsable time")
    assert "unknown unit suffix" in reasons["series[1].data[0]"]
    truncated = scalar(
        fresh_db,
        "select reason from raw_batteries.quarantine where source_file like %s",
        ("%33333333%",),
    )
    assert truncated.startswith("truncated JSON")


def test_quarantine_is_idempotent(fresh_db, tmp_path: Path):
    _battery_tree(tmp_path / "batteries")
    load("batteries", tmp_path / "batteries", fresh_db)
    before = scalar(fresh_db, "select count(*) from raw_batteries.quarantine")
    load("batteries", tmp_path / "batteries", fresh_db, full_refresh=True)
    assert scalar(fresh_db, "select count(*) from raw_batteries.quarantine") == before == 12


def test_broken_meter_and_circuit_records(fresh_db, tmp_path: Path):
    muid = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
    good = {
        "measurement": "energy",
        "timestamp": "2023-02-28T23:45:00.000Z",
        "tags": {"muid": muid},
        "0100011D00FF": 0.5,
    }
    _write(
        tmp_path / "meters" / "a.json",
        {
            "data": [
                good,
                {**good, "timestamp": "28/02/2023 23:30"},
                {**good, "timestamp": "2023-02-28T23:15:00.000Z", "tags": {}},
                {**good, "timestamp": "2023-02-28T23:00:00.000Z", "0100011D00FF": None},
                {"measurement": "energy", "timestamp": "2023-02-28T22:45:00.000Z", "tags": {"muid": muid}},
                good,
            ]
        },
    )
    _write(tmp_path / "meters" / "b.json", {"rows": []})
    meters = load("meters", tmp_path / "meters", fresh_db)
    assert {f.file: (f.read, f.loaded, f.quarantined) for f in meters.files} == {
        "meters/a.json": (6, 1, 5),
        "meters/b.json": (1, 0, 1),
    }
    fields = sorted(r[0] for r in rows(fresh_db, "select field from raw_meters.quarantine"))
    assert fields == ["0100011D00FF", "0100011D00FF", "data", "obis", "tags.muid", "timestamp"]

    _write(
        tmp_path / "circuits" / "init.sql",
        "BEGIN;\nINSERT INTO brands (id,name) VALUES ('b1','Brand ‑ One');\n"
        "INSERT INTO gadgets (id) VALUES ('x');\nDROP TABLE brands;\n"
        "INSERT INTO circuits (sensor_id,name,circuit_number) VALUES ('s1','C1','one');\nCOMMIT;",
    )
    _write(
        tmp_path / "circuits" / "power.json",
        [
            {"duid": "AB", "circuit_number": 1, "timestamp": "2024-04-01T00:00:00Z", "power_watts": 10},
            {"duid": "AB", "circuit_number": 1, "timestamp": "2024-04-01T00:01:00Z"},
            {"duid": "AB", "circuit_number": "1", "timestamp": "2024-04-01T00:02:00Z", "power_watts": 10},
        ],
    )
    circuits = load("circuits", tmp_path / "circuits", fresh_db)
    assert {f.file: (f.read, f.loaded, f.quarantined) for f in circuits.files} == {
        "circuits/init.sql": (4, 1, 3),
        "circuits/power.json": (3, 1, 2),
    }
    assert scalar(fresh_db, "select name from raw_circuits.brands") == "Brand \u2011 One"
    positions = sorted(r[0] for r in rows(fresh_db, "select position from raw_circuits.quarantine"))
    assert positions == ["[1]", "[2]", "line 3", "line 4", "line 5"]


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "load", "meters", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "missing" in lines[0] and "meters" in lines[0]
