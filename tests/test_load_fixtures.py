"""The real vendor files load completely and exactly; counts and values are computed here from the
files themselves with the json module, never read back from the loader's own code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import FIXTURES, requires_fixtures, rows, scalar

from ingest.pipeline import load

pytestmark = requires_fixtures

BATTERIES = FIXTURES / "batteries"
NO_SOC_ASSET = "499eba1c-bd0b-46db-a861-f8795fcbf02e"


def _telemetry_points() -> dict[tuple[str, str, int], float]:
    points = {}
    for path in (BATTERIES / "telemetry").glob("*.json"):
        for series in json.loads(path.read_text())["series"]:
            for epoch, value in series["data"]:
                points[(path.stem, series["name"], epoch)] = value
    return points


def _insert_counts(sql_text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in re.findall(r"INSERT INTO (\w+)", sql_text):
        counts[table] = counts.get(table, 0) + 1
    return counts


@pytest.fixture
def loaded(fresh_db):
    reports = {
        "batteries": load("batteries", BATTERIES, fresh_db),
        "meters": load("meters", FIXTURES / "meters", fresh_db),
        "circuits": load("circuits", FIXTURES / "circuits", fresh_db),
    }
    return fresh_db, reports


def test_battery_telemetry_is_complete_and_exact(loaded):
    conn, reports = loaded
    expected = _telemetry_points()
    assert len(expected) == 375  # 210 + 90 + 75, as the fixture README says
    got = {
        (d, s, e): v
        for d, s, e, v in rows(
            conn, "select device_id, series_name, epoch_ms, value from raw_batteries.telemetry"
        )
    }
    assert got == {k: float(v) for k, v in expected.items()}
    assert reports["batteries"].read == 375 + 3
    assert reports["batteries"].quarantined == 0


def test_assets_keep_vendor_state_and_the_asset_without_soc(loaded):
    conn, _ = loaded
    assets = json.loads((BATTERIES / "assets" / "assets.json").read_text())["items"]
    got = dict(rows(conn, "select device_id, state from raw_batteries.assets"))
    assert got == {a["deviceId"]: a["state"] for a in assets}
    soc_series = rows(
        conn,
        "select distinct device_id from raw_batteries.telemetry where series_name = 'StateOfChargePercentage'",
    )
    assert NO_SOC_ASSET not in {r[0] for r in soc_series}
    assert len(soc_series) == 2


def test_meter_readings_match_the_files(loaded):
    conn, reports = loaded
    for path in sorted((FIXTURES / "meters").glob("*.json")):
        records = json.loads(path.read_text())["data"]
        (obis,) = {k for r in records for k in r if re.fullmatch(r"[0-9A-F]{12}", k)}
        muid = records[0]["tags"]["muid"]
        total = sum(r[obis] for r in records)
        db_count, db_total = rows(
            conn,
            "select count(*), sum(value) from raw_meters.readings where muid = %s and obis_code = %s",
            (muid, obis),
        )[0]
        assert db_count == len(records) == 2688
        assert db_total == pytest.approx(total, rel=1e-12)
    assert reports["meters"].read == reports["meters"].loaded == 2 * 2688


def test_circuit_metadata_and_power_match_the_files(loaded):
    conn, reports = loaded
    sql_text = (FIXTURES / "circuits" / "init.sql").read_text(encoding="utf-8")
    for table, count in _insert_counts(sql_text).items():
        assert scalar(conn, f"select count(*) from raw_circuits.{table}") == count, table
    power = json.loads((FIXTURES / "circuits" / "mock_timeseries.json").read_text())
    assert scalar(conn, "select count(*) from raw_circuits.power") == len(power) == 2160
    assert scalar(conn, "select sum(power_watts) from raw_circuits.power") == sum(
        p["power_watts"] for p in power
    )
    assert reports["circuits"].read == 58 + 2160


def test_non_ascii_names_are_byte_exact(loaded):
    conn, _ = loaded
    sql_text = (FIXTURES / "circuits" / "init.sql").read_text(encoding="utf-8")
    expected = sorted(
        re.findall(
            r"INSERT INTO locations \(id,organization_id,name\) VALUES \('[^']*','[^']*','([^']*)'\)",
            sql_text,
        )
    )
    got = sorted(r[0] for r in rows(conn, "select name from raw_circuits.locations"))
    assert got == expected
    assert "East\u2011NYC" in got
    assert [n.encode() for n in got] == [n.encode() for n in expected]


def test_loading_again_changes_nothing(loaded):
    conn, _ = loaded
    tables = [
        "raw_batteries.telemetry",
        "raw_batteries.assets",
        "raw_meters.readings",
        "raw_circuits.power",
        "raw_circuits.circuits",
    ]
    before = {t: scalar(conn, f"select count(*) from {t}") for t in tables}
    again = load("batteries", BATTERIES, conn)
    assert again.unchanged_files == len(again.files) and again.loaded == 0
    forced = load("meters", FIXTURES / "meters", conn, full_refresh=True)  # re-sent whole: keys already there
    assert forced.loaded == 2 * 2688
    load("circuits", FIXTURES / "circuits", conn, full_refresh=True)
    assert {t: scalar(conn, f"select count(*) from {t}") for t in tables} == before


def test_a_newer_file_adds_only_what_is_new(fresh_db, tmp_path: Path):
    tree = tmp_path / "batteries"
    (tree / "assets").mkdir(parents=True)
    (tree / "telemetry").mkdir()
    (tree / "assets" / "assets.json").write_bytes((BATTERIES / "assets" / "assets.json").read_bytes())
    source = BATTERIES / "telemetry" / "200e55ab-790b-4049-bf23-f84dc866dd32.json"
    doc = json.loads(source.read_text())
    target = tree / "telemetry" / source.name
    target.write_text(json.dumps(doc))
    first = load("batteries", tree, fresh_db)
    assert first.loaded == 3 + 75
    for series in doc["series"]:  # the vendor's next response: two more points per series
        last_epoch, last_value = series["data"][-1]
        series["data"] += [[last_epoch + 4000, last_value], [last_epoch + 8000, last_value]]
    target.write_text(json.dumps(doc))
    second = load("batteries", tree, fresh_db)
    assert [f.unchanged for f in second.files] == [True, False]
    # every point is loaded; the 75 held ones are recognised by the series marks and not even sent
    assert (second.loaded, second.skipped, second.corrected) == (75 + 5 * 2, 75, 0)
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry") == 75 + 5 * 2

    late = doc["series"][0]  # a late point, older than the newest one already loaded
    late["data"].append([late["data"][0][0] + 1, 1.5])
    target.write_text(json.dumps(doc))
    third = load("batteries", tree, fresh_db)
    # the late point's series (17 held points and the late one) goes through the upsert; 4 series are skipped
    assert (third.loaded, third.skipped, third.corrected) == (75 + 5 * 2 + 1, 4 * 17, 0)
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry") == 75 + 5 * 2 + 1
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry_late") == 0
    again = load("batteries", tree, fresh_db, full_refresh=True)
    assert again.loaded == 3 + 86 and again.skipped == 0
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry") == 86
