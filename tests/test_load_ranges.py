"""Plausible ranges at load (ingest/sources/ranges.py, docs/quality.md): one record outside its range costs
that record only.

Each vendor gets a file of good records with one bad record of each kind among them (SoC 140 and -5, a
temperature of 150 °C, a negative kWh counter, a negative meter import and export, 1e308, a time in 9999,
in 2099 and before 1970). The test states which positions are bad and why, from the input it writes;
each bad one must be in the vendor's quarantine with that position, field and a reason naming the value
and the range, and every other record must be in the raw table with its value. Values that may be
negative (power, net energy, device energy) load. A second load of the same files changes nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from conftest import rows, scalar
from loader_trees import START_MS, meter_record, write_json

from ingest import remote
from ingest.db import Connection
from ingest.errors import GridhouseError
from ingest.pipeline import load
from ingest.sources import batteries

DEVICE = "aaaaaaaa-0000-0000-0000-000000000001"
Y9999_MS = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp() * 1000)
Y2099_MS = int(datetime(2099, 1, 1, tzinfo=UTC).timestamp() * 1000)
MINUTE_MS = 60_000


def quarantined(conn: Connection, dataset: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(file, position) -> (field, reason)."""
    found = rows(conn, f"select source_file, position, field, reason from {dataset}.quarantine")
    return {(f, p): (field, reason) for f, p, field, reason in found}


def balanced(report, read: int, bad: int) -> None:
    assert (report.read, report.loaded, report.quarantined) == (read, read - bad, bad)
    assert all(f.balanced for f in report.files)


def assert_reasons(got: dict, expected: dict[tuple[str, str], tuple[str, list[str]]]) -> None:
    """Each expected (file, position) is quarantined with its field and a reason holding every word."""
    assert set(got) == set(expected)
    for key, (field, words) in expected.items():
        assert got[key][0] == field, key
        for word in words:
            assert word in got[key][1], (key, word, got[key][1])


def assert_rerun_changes_nothing(conn: Connection, vendor: str, path: Path, tables: list[str], first) -> None:
    """The load log counted the first load as its report did; loading the same files again (plainly, then
    with --full-refresh) changes no table and no quarantine row."""
    counts = [scalar(conn, f"select count(*) from raw_{vendor}.{t}") for t in [*tables, "quarantine"]]
    again = load(vendor, path, conn)
    assert again.read == 0 and all(f.unchanged for f in again.files)
    assert [scalar(conn, f"select count(*) from raw_{vendor}.{t}") for t in [*tables, "quarantine"]] == counts
    full = load(vendor, path, conn, full_refresh=True)
    assert (full.read, full.loaded, full.quarantined) == (first.read, first.loaded, first.quarantined)
    assert [scalar(conn, f"select count(*) from raw_{vendor}.{t}") for t in [*tables, "quarantine"]] == counts
    log = rows(
        conn,
        f"select read, loaded, quarantined from raw_{vendor}._gridhouse_loads "
        "where status = 'finished' order by loaded_at",
    )
    first_counts = (first.read, first.loaded, first.quarantined)
    assert log == [first_counts, (0, 0, 0), first_counts]


def test_battery_points_out_of_range_are_quarantined_one_by_one(fresh_db, tmp_path: Path):
    root = tmp_path / "batteries"
    write_json(
        root / "assets" / "assets.json",
        {"totalCount": 1, "items": [{"deviceId": DEVICE, "description": "B", "state": "Ok"}]},
    )
    t = [START_MS + MINUTE_MS * i for i in range(6)]
    series = {
        # name: points, and the bad ones: index -> (field, words of the reason)
        "StateOfChargePercentage": (
            [[t[0], 50], [t[1], 140], [t[2], 3], [t[3], -5], [t[4], 100], [Y9999_MS, 60]],
            {
                1: ("value", ["StateOfChargePercentage 140", "outside 0 to 100 %"]),
                3: ("value", ["StateOfChargePercentage -5", "outside 0 to 100 %"]),
                5: ("epoch_ms", ["9999-12-31T00:00:00Z", "later than the load time", "60 min"]),
            },
        ),
        "BatteryTemperatureCelsius": (
            [[t[0], 25.5], [t[1], 150.0], [t[2], -41], [t[3], -40], [t[4], 100]],
            {
                1: ("value", ["BatteryTemperatureCelsius 150", "outside -40 to 100 °C"]),
                2: ("value", ["BatteryTemperatureCelsius -41", "outside -40 to 100 °C"]),
            },
        ),
        "BatteryExportKwh": (
            [[t[0], 1000.5], [t[1], -3], [t[2], 1001.25], [t[3], 0]],
            {1: ("value", ["BatteryExportKwh -3", "below 0 kWh", "counter"])},
        ),
        "BatteryPowerW": (  # negative power is a battery charging: it loads
            [[t[0], -2500], [t[1], 1e308], [t[2], 1800], [Y2099_MS, 10], [-MINUTE_MS, 5]],
            {
                1: ("value", ["BatteryPowerW 1e+308", "beyond +-1e+15"]),
                3: ("epoch_ms", ["2099-01-01T00:00:00Z", "later than the load time"]),
                4: ("epoch_ms", ["before 1970-01-01T00:00:00Z"]),
            },
        ),
        "GridImportKwh-mainmeter": ([[p, 200.0 + i] for i, p in enumerate(t)], {}),  # all fine: bulk path
    }
    doc = {"series": [{"name": name, "data": data} for name, (data, _) in series.items()]}
    file = f"telemetry/{DEVICE}.json"
    write_json(root / file, doc)

    report = load("batteries", root, fresh_db)

    expected = {
        (file, f"series[{s}].data[{p}]"): bad
        for s, (_, (_, bads)) in enumerate(series.items())
        for p, bad in bads.items()
    }
    points = sum(len(data) for data, _ in series.values())
    balanced(report, 1 + points, len(expected))
    assert_reasons(quarantined(fresh_db, "raw_batteries"), expected)
    good = {
        (name, epoch, float(value))
        for name, (data, bads) in series.items()
        for p, (epoch, value) in enumerate(data)
        if p not in bads
    }
    held = rows(fresh_db, "select series_name, epoch_ms, value from raw_batteries.telemetry")
    assert set(held) == good and len(held) == len(good)
    assert_rerun_changes_nothing(fresh_db, "batteries", root, ["telemetry", "assets"], report)


def meter_stamp(i: int) -> str:
    return (datetime(2023, 3, 1, tzinfo=UTC) + timedelta(minutes=15 * i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_meter_readings_out_of_range_are_quarantined_and_net_keeps_its_sign(fresh_db, tmp_path: Path):
    imp, exp, net = "0100011D00FF", "0100021D00FF", "0100101D00FF"

    def reading(muid: str, stamp: str, obis: str, value: float) -> dict:
        record = meter_record(muid, stamp, value)
        record[obis] = record.pop(imp)
        return record

    records = [
        reading("m1", meter_stamp(0), imp, 0.25),
        reading("m1", meter_stamp(1), imp, -0.25),  # bad: import below 0
        reading("m1", meter_stamp(2), imp, 1e308),  # bad: magnitude
        reading("m1", "9999-12-31T00:00:00.000Z", imp, 0.5),  # bad: future
        reading("m1", "1969-12-31T23:45:00.000Z", imp, 0.5),  # bad: before 1970
        reading("m2", meter_stamp(0), exp, 0.0),
        reading("m2", meter_stamp(1), exp, -0.1),  # bad: export below 0
        reading("m3", meter_stamp(0), net, -0.75),  # net: negative is legitimate
        reading("m3", "2099-01-01T00:00:00+01:00", net, 0.5),  # bad: future
    ]
    write_json(tmp_path / "meters" / "a.json", {"data": records})
    report = load("meters", tmp_path / "meters", fresh_db)
    later = ["later than the load time", "60 min"]
    expected = {
        ("meters/a.json", f"data[1].{imp}"): (imp, [f"{imp} -0.25", "below 0 kWh", "import"]),
        ("meters/a.json", f"data[2].{imp}"): (imp, [f"{imp} 1e+308", "beyond +-1e+15"]),
        ("meters/a.json", f"data[3].{imp}"): ("timestamp", ["9999-12-31T00:00:00.000Z", *later]),
        ("meters/a.json", f"data[4].{imp}"): ("timestamp", ["1969-12-31T23:45:00.000Z", "before 1970"]),
        ("meters/a.json", f"data[6].{exp}"): (exp, [f"{exp} -0.1", "below 0 kWh", "export"]),
        ("meters/a.json", f"data[8].{net}"): ("timestamp", ["2099-01-01T00:00:00+01:00", *later]),
    }
    balanced(report, len(records), len(expected))
    assert_reasons(quarantined(fresh_db, "raw_meters"), expected)
    held = rows(fresh_db, "select muid, obis_code, timestamp_iso, value from raw_meters.readings")
    assert sorted(held) == [
        ("m1", imp, meter_stamp(0), 0.25),
        ("m2", exp, meter_stamp(0), 0.0),
        ("m3", net, meter_stamp(0), -0.75),
    ]
    assert_rerun_changes_nothing(fresh_db, "meters", tmp_path / "meters", ["readings"], report)


def test_device_readings_and_circuit_power_out_of_range(fresh_db, tmp_path: Path):
    devices = tmp_path / "devices"
    registry = [
        {"device_id": "bat1", "home_id": "h1", "kind": "battery", "specs": {"capacity_wh": 10000}},
        {"device_id": "pv1", "home_id": "h1", "kind": "solar_panel", "specs": {"rated_w": 5000}},
    ]
    write_json(devices / "devices.json", registry)

    def line(device: str, i: int, power_w: float, charge: float | None, stamp: str | None = None) -> str:
        stamp = stamp or meter_stamp(i).replace(".000Z", "Z")
        return json.dumps(
            {"device_id": device, "timestamp": stamp, "power_w": power_w, "energy_wh": power_w / 4,
             "charge_pct": charge, "mode": "idle"}
        )  # fmt: skip

    lines = [
        line("bat1", 0, -1200.0, 55.0),  # consumed (charging): negative is legitimate
        line("bat1", 1, 800.0, 140.0),  # bad: charge_pct
        line("bat1", 2, 800.0, -5.0),  # bad: charge_pct
        line("pv1", 0, 1e308, None),  # bad: magnitude
        line("pv1", 1, 2500.0, None, "9999-12-31T00:00:00Z"),  # bad: future
        line("pv1", 2, 2600.0, None),
    ]
    (devices / "telemetry").mkdir()
    (devices / "telemetry" / "2023-03-01.jsonl").write_text("\n".join(lines) + "\n")
    report = load("devices", devices, fresh_db)
    file = "devices/telemetry/2023-03-01.jsonl"
    expected = {
        (file, "line 2"): ("charge_pct", ["charge_pct 140", "outside 0 to 100 %"]),
        (file, "line 3"): ("charge_pct", ["charge_pct -5", "outside 0 to 100 %"]),
        (file, "line 4"): ("power_w", ["power_w 1e+308", "beyond +-1e+15"]),
        (file, "line 5"): ("timestamp", ["9999-12-31T00:00:00Z", "later than the load time"]),
    }
    balanced(report, len(registry) + len(lines), len(expected))
    assert_reasons(quarantined(fresh_db, "raw_devices"), expected)
    assert sorted(
        rows(fresh_db, "select device_id, power_w, energy_wh, charge_pct from raw_devices.readings")
    ) == [
        ("bat1", -1200.0, -300.0, 55.0),
        ("pv1", 2600.0, 650.0, None),
    ]
    assert_rerun_changes_nothing(fresh_db, "devices", devices, ["readings"], report)

    samples = [
        {"duid": "S1", "circuit_number": 1, "timestamp": "2024-04-01T00:00:00Z", "power_watts": 350},
        {"duid": "S1", "circuit_number": 1, "timestamp": "2024-04-01T00:01:00Z", "power_watts": -1500},
        {"duid": "S1", "circuit_number": 1, "timestamp": "2024-04-01T00:02:00Z", "power_watts": 1e308},
        {"duid": "S1", "circuit_number": 1, "timestamp": "2099-01-01T00:00:00Z", "power_watts": 10},
        {"duid": "S1", "circuit_number": 2, "timestamp": "2024-04-01T00:00:00Z", "power_watts": -1e308},
    ]
    write_json(tmp_path / "circuits" / "power.json", samples)
    circuits = load("circuits", tmp_path / "circuits", fresh_db)
    expected = {
        ("circuits/power.json", "[2]"): ("power_watts", ["power_watts 1e+308", "beyond +-1e+15"]),
        ("circuits/power.json", "[3]"): ("timestamp", ["2099-01-01T00:00:00Z", "later than the load time"]),
        ("circuits/power.json", "[4]"): ("power_watts", ["power_watts -1e+308", "beyond +-1e+15"]),
    }
    balanced(circuits, len(samples), len(expected))
    assert_reasons(quarantined(fresh_db, "raw_circuits"), expected)
    assert sorted(rows(fresh_db, "select timestamp_iso, power_watts from raw_circuits.power")) == [
        ("2024-04-01T00:00:00Z", 350.0),
        ("2024-04-01T00:01:00Z", -1500.0),  # a circuit feeding solar power back
    ]


def test_the_future_tolerance_is_a_setting(fresh_db, tmp_path: Path, monkeypatch):
    """A reading 30 minutes ahead of the load loads within the default hour, not with a tolerance of 10
    minutes; a tolerance that is not a number stops the command before anything is read."""
    now = datetime.now(UTC)
    ahead = (now + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    later = (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write_json(
        tmp_path / "a" / "a.json", {"data": [meter_record("m1", ahead, 0.1), meter_record("m1", later, 0.2)]}
    )
    first = load("meters", tmp_path / "a", fresh_db)
    assert (first.loaded, first.quarantined) == (1, 1)
    assert rows(fresh_db, "select position from raw_meters.quarantine") == [("data[1].0100011D00FF",)]

    monkeypatch.setenv("SOURCES__GRIDHOUSE__FUTURE_TOLERANCE_MINUTES", "10")
    write_json(tmp_path / "b" / "b.json", {"data": [meter_record("m2", ahead, 0.1)]})
    second = load("meters", tmp_path / "b", fresh_db)
    assert (second.loaded, second.quarantined) == (0, 1)
    reason = scalar(fresh_db, "select reason from raw_meters.quarantine where source_file = 'b/b.json'")
    assert "plus 10 min" in reason and "SOURCES__GRIDHOUSE__FUTURE_TOLERANCE_MINUTES" in reason

    monkeypatch.setenv("SOURCES__GRIDHOUSE__FUTURE_TOLERANCE_MINUTES", "soon")
    with pytest.raises(GridhouseError, match="FUTURE_TOLERANCE_MINUTES .* is 'soon'"):
        load("meters", tmp_path / "b", fresh_db)


def test_asset_pages_read_a_nan_as_the_files_do(fresh_db, monkeypatch):
    """A NaN in one item of an API page costs that item, not the pages after it (as in a file)."""
    base = "http://vendor.invalid"
    ids = [f"bbbbbbbb-0000-0000-0000-00000000000{i}" for i in range(4)]
    item = '{{"deviceId": "{}", "description": {}, "state": "Ok"}}'
    pages = {
        1: (
            '{"totalCount": 4, "items": ['
            + item.format(ids[0], "NaN")
            + ", "
            + item.format(ids[1], '"B"')
            + "]}"
        ),
        2: (
            '{"totalCount": 4, "items": ['
            + item.format(ids[2], '"C"')
            + ", "
            + item.format(ids[3], '"D"')
            + "]}"
        ),
    }
    telemetry = {
        "series": [{"name": "BatteryPowerW", "data": [[START_MS, 5.0], [START_MS + MINUTE_MS, 6.0]]}]
    }
    asked: list[str] = []

    def get(url: str, params: dict | None = None, missing_ok: bool = False) -> bytes:
        asked.append(url)
        if url == f"{base}/assets":
            return (
                pages[params["page"]].encode()
                if params["page"] in pages
                else b'{"totalCount": 4, "items": []}'
            )
        assert url.startswith(f"{base}/telemetry/")
        return orjson.dumps(telemetry)

    monkeypatch.setattr(remote, "get", get)
    monkeypatch.setattr(remote, "PAGE_SIZE", 2)
    assert [p.name for p in remote.asset_pages(base)] == [f"{base}/assets?page=1", f"{base}/assets?page=2"]

    report = load("batteries", base, fresh_db, planned=batteries.plan(base))
    assert sorted(r[0] for r in rows(fresh_db, "select device_id from raw_batteries.assets")) == ids[1:]
    (reason,) = rows(fresh_db, "select reason from raw_batteries.quarantine where position = 'items[0]'")
    assert reason[0].startswith("NaN is not a JSON number")
    # the item with the NaN is not loaded, so its telemetry is not asked for; the other three are
    assert sorted(u for u in asked if "/telemetry/" in u) == [f"{base}/telemetry/{d}" for d in ids[1:]]
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry") == 6
    assert (report.read, report.quarantined) == (4 + 6, 1)
