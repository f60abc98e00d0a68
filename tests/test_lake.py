"""The lake destination (ingest/lake.py), without Spark: readings land in the local-day partition of their
home's time zone, read = loaded + quarantined, the load log and file memory sit beside the data, an
unchanged file is not read again and a corrected one is appended with a later load stamp."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc

from ingest.lake import LOG, finished_loads, load_lake, read_table

REGISTRY = [
    {"device_id": "d1", "home_id": "h1", "kind": "solar_panel", "timezone": "America/New_York", "specs": {}},
    {"device_id": "d2", "home_id": "h2", "kind": "appliance", "timezone": "Asia/Tokyo", "specs": {}},
]


def reading(device: str, at: str, power_w: float) -> str:
    return json.dumps(
        {"device_id": device, "timestamp": at, "power_w": power_w, "energy_wh": power_w / 12,
         "charge_pct": None, "mode": "on"}
    )  # fmt: skip


def write_tree(folder: Path, d1_power_w: float = 1200.0) -> Path:
    (folder / "telemetry").mkdir(parents=True, exist_ok=True)
    (folder / "devices.json").write_text(json.dumps(REGISTRY))
    lines = [
        reading("d1", "2024-04-01T02:00:00Z", d1_power_w),  # New York: 2024-03-31 22:00
        reading("d2", "2024-04-01T20:00:00Z", -300.0),  # Tokyo: 2024-04-02 05:00
        reading("d3", "2024-04-01T23:30:00Z", 50.0),  # no registry entry: Europe/Zurich, 2024-04-02 01:30
        "{not json",
    ]
    (folder / "telemetry" / "2024-04-01.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_lake_load_partitions_by_local_day_and_accounts_for_every_record(tmp_path: Path):
    tree = write_tree(tmp_path / "devices")
    lake = (tmp_path / "lake").as_uri()
    report = load_lake(tree, url=lake)
    assert (report.read, report.loaded, report.quarantined) == (2 + 4, 2 + 3, 1)

    held = read_table(lake, "readings")
    day_of = {
        r["device_id"]: str(r["local_day"]) for r in held.select(["device_id", "local_day"]).to_pylist()
    }
    assert day_of == {"d1": "2024-03-31", "d2": "2024-04-02", "d3": "2024-04-02"}
    folders = sorted(p.name for p in (tmp_path / "lake" / "raw_devices" / "readings").iterdir())
    assert folders == ["local_day=2024-03-31", "local_day=2024-04-02"]
    quarantined = read_table(lake, "quarantine").to_pylist()
    assert [(q["position"], q["raw_text"]) for q in quarantined] == [("line 4", "{not json")]

    log = finished_loads(lake).to_pylist()
    assert [(r["read"], r["loaded"], r["quarantined"]) for r in log] == [(6, 5, 1)]
    assert {r["_loaded_at"] for r in held.to_pylist()} == {log[0]["loaded_at"]}

    again = load_lake(tree, url=lake)  # the file memory: nothing read twice
    assert (again.read, again.unchanged_files) == (0, 2)
    assert read_table(lake, "readings").num_rows == 3

    write_tree(tree, d1_power_w=900.0)  # the vendor corrects d1's reading
    corrected = load_lake(tree, url=lake)
    assert corrected.read == 4  # the telemetry file only: the registry is unchanged
    rows = read_table(lake, "readings").filter(pc.equal(read_table(lake, "readings")["device_id"], "d1"))
    newest = max(rows.to_pylist(), key=lambda r: r["_loaded_at"])
    assert rows.num_rows == 2 and newest["power_w"] == 900.0
    assert len(read_table(lake, LOG)) == 3


def test_any_fsspec_url_is_a_lake(tmp_path: Path):
    """A non-local URL (fsspec's in-memory filesystem, as s3:// or gs:// would be) takes the same load."""
    tree = write_tree(tmp_path / "devices")
    report = load_lake(tree, url="memory://gridhouse-test-lake")
    assert (report.read, report.loaded, report.quarantined) == (6, 5, 1)
    held = read_table("memory://gridhouse-test-lake", "readings")
    assert sorted(held["device_id"].to_pylist()) == ["d1", "d2", "d3"]
    assert finished_loads("memory://gridhouse-test-lake").num_rows == 1
