"""Keys are instants and the latest delivery wins, audited (ingest/settle.py): a record re-published for a
key already held with another value replaces the held row, which goes to `<table>_replaced`; an identical
one changes nothing; one instant written several ways is one key. Expected values come from the inputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import rows, scalar
from loader_trees import SERIES, START_MS, battery_tree, meter_record, write_json

from ingest.db import Connection
from ingest.pipeline import load

SPELLINGS = ("2023-03-01T00:00:00Z", "2023-03-01T00:00:00.000Z", "2023-03-01T01:00:00+01:00")
INSTANT = datetime(2023, 3, 1, tzinfo=UTC)


def newest_load(conn: Connection, dataset: str) -> datetime:
    return scalar(conn, f"select max(loaded_at) from {dataset}._gridhouse_loads where status = 'finished'")


def assert_balanced(report) -> None:
    for f in report.files:
        assert f.read == f.loaded + f.quarantined, f.file


def test_an_estimated_reading_replaced_by_a_validated_one(fresh_db, tmp_path: Path) -> None:
    meters = tmp_path / "meters"
    later = meter_record("m1", "2023-03-01T00:15:00.000Z", 0.2)
    write_json(meters / "a.json", {"data": [meter_record("m1", SPELLINGS[1], 0.1007, "estimated"), later]})
    load("meters", meters, fresh_db)
    first = newest_load(fresh_db, "raw_meters")

    write_json(meters / "a.json", {"data": [meter_record("m1", SPELLINGS[1], 9.999, "validated"), later]})
    report = load("meters", meters, fresh_db)
    second = newest_load(fresh_db, "raw_meters")
    assert [(f.file, f.read, f.loaded, f.corrected, f.quarantined) for f in report.files] == [
        ("meters/a.json", 2, 2, 1, 0)
    ]
    assert_balanced(report)
    held = "select measured_at, value, quality, _source_file, _loaded_at from raw_meters.readings order by 1"
    after = rows(fresh_db, held)
    assert after == [
        (INSTANT, 9.999, "validated", "meters/a.json", second),  # the correction carries its load
        (datetime(2023, 3, 1, 0, 15, tzinfo=UTC), 0.2, "measured", "meters/a.json", first),  # untouched
    ]
    audit = "select measured_at, value, quality, _loaded_at, replaced_at from raw_meters.readings_replaced"
    assert rows(fresh_db, audit) == [(INSTANT, 0.1007, "estimated", first, second)]
    assert (
        scalar(fresh_db, "select corrected from raw_meters._gridhouse_loads where loaded_at = %s", (second,))
        == 1
    )

    again = load("meters", meters, fresh_db)  # the same file: remembered, not read
    assert (again.corrected, again.unchanged_files) == (0, 1)
    forced = load("meters", meters, fresh_db, full_refresh=True)  # read and upserted: identical, a no-op
    assert (forced.loaded, forced.corrected) == (2, 0)
    assert rows(fresh_db, held) == after
    assert scalar(fresh_db, "select count(*) from raw_meters.readings_replaced") == 1


def test_a_battery_point_republished_with_another_value(fresh_db, tmp_path: Path) -> None:
    tree = tmp_path / "batteries"
    expected = battery_tree(tree, ["a1"], points=20)
    load("batteries", tree, fresh_db)
    first = newest_load(fresh_db, "raw_batteries")

    path = tree / "telemetry" / "a1.json"
    doc = json.loads(path.read_text())
    doc["series"][1]["data"][7][1] = -1234.5  # BatteryPowerW, an old point: the vendor corrected it
    path.write_text(json.dumps(doc))
    report = load("batteries", tree, fresh_db)
    second = newest_load(fresh_db, "raw_batteries")
    epoch = START_MS + 7 * 60_000
    assert (report.loaded, report.corrected, report.skipped) == (60, 1, 40)  # two series unchanged
    assert_balanced(report)
    got = {
        (s, t): (v, at)
        for s, t, v, at in rows(
            fresh_db, "select series_name, epoch_ms, value, _loaded_at from raw_batteries.telemetry"
        )
    }
    assert got[(SERIES[1], epoch)] == (-1234.5, second)
    assert got[(SERIES[1], epoch + 60_000)] == (expected[("a1", SERIES[1], epoch + 60_000)], first)
    assert len(got) == len(expected)
    audit = (
        "select series_name, epoch_ms, value, _loaded_at, replaced_at from raw_batteries.telemetry_replaced"
    )
    assert rows(fresh_db, audit) == [(SERIES[1], epoch, expected[("a1", SERIES[1], epoch)], first, second)]


def _meters(root: Path, spellings: list[str], value: float) -> None:
    write_json(root / "a.json", {"data": [meter_record("m1", s, value) for s in spellings]})


def _circuits(root: Path, spellings: list[str], value: float) -> None:
    samples = [{"duid": "AB12", "circuit_number": 1, "timestamp": s, "power_watts": value} for s in spellings]
    write_json(root / "power.json", samples)


def _devices(root: Path, spellings: list[str], value: float) -> None:
    lines = [
        json.dumps(
            {"device_id": "d1", "timestamp": s, "power_w": value, "energy_wh": value / 12, "mode": "on"}
        )
        for s in spellings
    ]
    (root / "telemetry").mkdir(parents=True, exist_ok=True)
    (root / "telemetry" / "2023-03-01.jsonl").write_text("\n".join(lines) + "\n")


VENDORS = {
    # vendor: (write a tree, raw table, value column)
    "meters": (_meters, "raw_meters.readings", "value"),
    "circuits": (_circuits, "raw_circuits.power", "power_watts"),
    "devices": (_devices, "raw_devices.readings", "power_w"),
}


@pytest.mark.parametrize("vendor", VENDORS)
def test_one_instant_written_three_ways_is_one_key(fresh_db, tmp_path: Path, vendor: str) -> None:
    write, table, column = VENDORS[vendor]
    root = tmp_path / vendor
    write(root, list(SPELLINGS), 5.0)
    report = load(vendor, root, fresh_db)
    assert (report.read, report.loaded, report.quarantined) == (3, 1, 2)
    held = f"select timestamp_iso, measured_at, {column} from {table}"
    assert rows(fresh_db, held) == [(SPELLINGS[0], INSTANT, 5.0)]  # the first one read is kept
    reasons = rows(fresh_db, f"select reason from raw_{vendor}.quarantine order by position")
    assert len(reasons) == 2 and all(r[0].startswith("duplicate") for r in reasons)

    # Across loads: another spelling of the same value changes nothing; another value is a correction.
    write(root, [SPELLINGS[2]], 5.0)
    again = load(vendor, root, fresh_db)
    assert (again.loaded, again.corrected) == (1, 0)
    assert rows(fresh_db, held) == [(SPELLINGS[0], INSTANT, 5.0)]
    write(root, [SPELLINGS[1]], 7.5)
    corrected = load(vendor, root, fresh_db)
    assert (corrected.loaded, corrected.corrected) == (1, 1)
    assert rows(fresh_db, held) == [(SPELLINGS[1], INSTANT, 7.5)]  # the replacing row as it was sent
    assert rows(fresh_db, f"select timestamp_iso, {column} from {table}_replaced") == [(SPELLINGS[0], 5.0)]


def test_no_result_depends_on_the_marks(fresh_db, tmp_path: Path) -> None:
    """With the memory gone (a load that died before saving it), the rows held come again as "new": their
    file's COPY meets the unique key and goes through the upsert instead."""
    tree = tmp_path / "batteries"
    expected = battery_tree(tree, ["a1", "b2"], points=15)
    load("batteries", tree, fresh_db)
    path = tree / "telemetry" / "b2.json"
    doc = json.loads(path.read_text())
    doc["series"][0]["data"][3][1] = 99.5  # one correction
    doc["series"][0]["data"].append([START_MS + 15 * 60_000, 42.0])  # one new point
    path.write_text(json.dumps(doc))
    with fresh_db.connect() as db:
        db.execute("delete from raw_batteries._gridhouse_files")
        db.execute("delete from raw_batteries._gridhouse_series")
        db.commit()
    report = load("batteries", tree, fresh_db)
    assert (report.loaded, report.skipped, report.corrected, report.quarantined) == (2 + 90 + 1, 0, 1, 0)
    expected[("b2", SERIES[0], START_MS + 3 * 60_000)] = 99.5
    expected[("b2", SERIES[0], START_MS + 15 * 60_000)] = 42.0
    got = rows(fresh_db, "select device_id, series_name, epoch_ms, value from raw_batteries.telemetry")
    assert {(d, s, t): v for d, s, t, v in got} == expected and len(got) == len(expected)
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry_late") == 0


def test_a_table_keyed_on_the_text_is_keyed_on_the_instant(fresh_db, tmp_path: Path) -> None:
    """A database loaded before keys were instants: one instant written three ways is three rows there;
    the next load keeps the newest of them and moves the others to the audit table."""
    with fresh_db.connect() as db:
        db.execute("create schema raw_meters")
        db.execute(
            "create table raw_meters.readings (muid varchar not null, obis_code varchar not null, "
            "timestamp_iso varchar not null, value double precision not null, measurement varchar, "
            "quality varchar, _source_file varchar not null, _loaded_at timestamptz not null, "
            "_dlt_load_id varchar(64) not null)"
        )
        db.execute(
            "create unique index readings_pkey on raw_meters.readings (muid, obis_code, timestamp_iso)"
        )
        for day, (spelling, value) in enumerate(zip(SPELLINGS, (1.0, 2.0, 3.0), strict=True), start=1):
            db.execute(
                "insert into raw_meters.readings values ('m1', '0100011D00FF', %s, %s, 'energy', 'measured', "
                "'old.json', %s, 'old')",
                (spelling, value, datetime(2024, 1, day, tzinfo=UTC)),
            )
        db.commit()
    write_json(tmp_path / "meters" / "a.json", {"data": [meter_record("m1", "2023-03-01T00:15:00Z", 0.5)]})
    load("meters", tmp_path / "meters", fresh_db)
    held = "select timestamp_iso, measured_at, value from raw_meters.readings order by measured_at"
    assert rows(fresh_db, held) == [
        (SPELLINGS[2], INSTANT, 3.0),  # the newest delivery of that instant
        ("2023-03-01T00:15:00Z", datetime(2023, 3, 1, 0, 15, tzinfo=UTC), 0.5),
    ]
    audit = "select timestamp_iso, value from raw_meters.readings_replaced order by value"
    assert rows(fresh_db, audit) == [(SPELLINGS[0], 1.0), (SPELLINGS[1], 2.0)]
    index = scalar(fresh_db, "select indexdef from pg_indexes where indexname = 'readings_pkey'")
    assert index.endswith("(muid, obis_code, measured_at)")
