"""Hostile input costs at most the records it sits in.

Each case is a valid vendor file, written here record by record, with one targeted corruption (a NUL,
bytes that are not UTF-8, a BOM, NaN, Infinity, 1e400, a key twice, a list where a string belongs). The
expected counts are computed from the input: a file of N records with one corrupted record reads N, loads
N - 1 and quarantines 1; the quarantine row holds the corrupted record's exact bytes; every other record
is in the raw table with its value. Then a file cut short, files of the wrong kind (an error naming the
file and what was expected, or one quarantine row in a folder) and registry duplicates.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import rows
from loader_trees import meter_record

from ingest.db import Connection
from ingest.pipeline import load

N = 12  # records per file
K = 5  # the record corrupted
MARK = 4242.5  # the corrupted record's value, replaced in its bytes
BOM = b"\xef\xbb\xbf"
OBIS = "0100011D00FF"


def dumped(record: object) -> bytes:
    return json.dumps(record).encode()  # with spaces: not what a parser would write back


def quarantine(conn: Connection, dataset: str) -> dict[tuple[str, str], tuple[str | None, str, bytes]]:
    """(file, position) -> (field, reason, the bytes kept); raw_bytes only where the text cannot be them."""
    got = {}
    for source, position, field, reason, text, data in rows(
        conn, f"select source_file, position, field, reason, raw_text, raw_bytes from {dataset}.quarantine"
    ):
        raw = text.encode() if data is None else bytes(data)
        if data is not None:  # only when the bytes are not text PostgreSQL holds
            assert b"\x00" in raw or not _utf8(raw), raw
        got[(source, position)] = (field, reason, raw)
    return got


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def counts(report) -> dict[str, tuple[int, int, int]]:
    return {f.file: (f.read, f.loaded, f.quarantined) for f in report.files}


# -- meters: {"data": [record, ...]}, one OBIS value per record ----------------------------------------
def meter_stamp(i: int) -> str:
    return (datetime(2023, 3, 1, tzinfo=UTC) + timedelta(minutes=15 * i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def meter_records() -> list[dict]:
    return [meter_record("m1", meter_stamp(i), MARK if i == K else 0.25 * (i + 1)) for i in range(N)]


Change = Callable[[dict], None] | None
Bytes = Callable[[bytes], bytes] | None


def _set(path: str, value: object) -> Callable[[dict], None]:
    def change(record: dict) -> None:
        *parents, last = path.split(".")
        for part in parents:
            record = record[part]
        record[last] = value

    return change


def _replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        assert data.count(old) == 1
        return data.replace(old, new)

    return change


MARK_TEXT = str(MARK).encode()
# name: (change to the record, change to its bytes, field, words of the reason, whole record unparsable)
METER_CASES: dict[str, tuple[Change, Bytes, str | None, str, bool]] = {
    "nul-in-quality": (_set("tags.quality", "meas\u0000ured"), None, "tags.quality", "NUL character", False),
    "not-utf8-in-a-string": (
        _set("tags.quality", "QUALITY"),
        _replace(b"QUALITY", b"qual\xffity"),
        "tags.quality",
        "not UTF-8",
        False,
    ),
    "not-utf8-outside-strings": (None, _replace(MARK_TEXT, MARK_TEXT + b"\xfe"), None, "not UTF-8", True),
    "lone-surrogate": (
        _set("tags.quality", "QUALITY"),
        _replace(b'"QUALITY"', b'"\\ud800"'),
        "tags.quality",
        "surrogate",
        False,
    ),
    "nan": (None, _replace(MARK_TEXT, b"NaN"), OBIS, "NaN is not a JSON number", False),
    "infinity": (None, _replace(MARK_TEXT, b"Infinity"), OBIS, "Infinity is not a JSON number", False),
    "minus-infinity": (
        None,
        _replace(MARK_TEXT, b"-Infinity"),
        OBIS,
        "-Infinity is not a JSON number",
        False,
    ),
    "1e400": (None, _replace(MARK_TEXT, b"1e400"), OBIS, "out of range", False),
    "duplicate-key": (
        None,
        lambda b: b'{"' + OBIS.encode() + b'": 9.5, ' + b[1:],
        None,
        "duplicate key",
        False,
    ),
    "list-as-muid": (_set("tags.muid", ["m1"]), None, "tags.muid", "tags.muid must be a string", False),
    "list-as-quality": (
        _set("tags.quality", ["measured"]),
        None,
        "tags.quality",
        "must be a string or null",
        False,
    ),
    "number-as-measurement": (_set("measurement", 7), None, "measurement", "must be a string or null", False),
}


@pytest.mark.parametrize("case", list(METER_CASES))
def test_a_corrupted_meter_record_costs_only_itself(fresh_db, tmp_path: Path, case: str) -> None:
    change, change_bytes, field, reason, unparsable = METER_CASES[case]
    records = meter_records()
    if change is not None:
        change(records[K])
    pieces = [dumped(r) for r in records]
    if change_bytes is not None:
        pieces[K] = change_bytes(pieces[K])
    path = tmp_path / "meters" / "a.json"
    path.parent.mkdir()
    path.write_bytes(b'{"data": [' + b", ".join(pieces) + b"]}")

    report = load("meters", tmp_path / "meters", fresh_db)

    assert counts(report) == {"meters/a.json": (N, N - 1, 1)}
    position = f"data[{K}]" if unparsable else f"data[{K}].{OBIS}"
    [((source, at), (got_field, got_reason, raw))] = quarantine(fresh_db, "raw_meters").items()
    assert (source, at, got_field) == ("meters/a.json", position, field)
    assert reason in got_reason
    assert raw == pieces[K]  # every byte of the record as it was read
    held = rows(fresh_db, "select timestamp_iso, value, quality from raw_meters.readings order by 1")
    expected = [meter_record("m1", meter_stamp(i), 0.25 * (i + 1)) for i in range(N) if i != K]
    assert held == [(r["timestamp"], r[OBIS], r["tags"]["quality"]) for r in expected]


def test_a_bom_costs_nothing(fresh_db, tmp_path: Path) -> None:
    (tmp_path / "meters").mkdir()
    (tmp_path / "meters" / "a.json").write_bytes(BOM + dumped({"data": meter_records()}))
    (tmp_path / "meters" / "tenants.csv").write_bytes(BOM + b"muid,tenant\r\nm1,tenant-01\r\n")
    report = load("meters", tmp_path / "meters", fresh_db)
    assert counts(report) == {"meters/a.json": (N, N, 0), "meters/tenants.csv": (1, 1, 0)}
    assert rows(fresh_db, "select muid, tenant_id from raw_meters.tenants") == [("m1", "tenant-01")]


def test_a_bad_line_of_a_tenant_map_costs_only_itself(fresh_db, tmp_path: Path) -> None:
    (tmp_path / "meters").mkdir()
    (tmp_path / "meters" / "a.json").write_bytes(dumped({"data": meter_records()}))
    lines = [
        b"muid,tenant",
        b"m1,tenant-01",
        b"m2,ten\x00ant-02",
        b"m3,t\xe9nant-03",
        b"m1,tenant-04",
        b"m5,tenant-05",
    ]
    (tmp_path / "meters" / "tenants.csv").write_bytes(b"\n".join(lines) + b"\n")
    report = load("meters", tmp_path / "meters", fresh_db)
    assert counts(report)["meters/tenants.csv"] == (5, 2, 3)
    got = quarantine(fresh_db, "raw_meters")
    assert {at: (reason.split(" ")[0], raw) for (_, at), (_, reason, raw) in got.items()} == {
        "line 3": ("NUL", lines[2]),
        "line 4": ("bytes", lines[3]),
        "line 5": ("duplicate", lines[4]),
    }
    assert rows(fresh_db, "select muid, tenant_id from raw_meters.tenants order by 1") == [
        ("m1", "tenant-01"),
        ("m5", "tenant-05"),
    ]


# -- batteries: telemetry points and assets -------------------------------------------------------------
SERIES = ("StateOfChargePercentage", "BatteryPowerW", "BatteryExportKwh")
T0 = 1_700_000_000_000


def battery_points(s: int) -> list[list]:
    return [[T0 + 60_000 * p, MARK if (s, p) == (1, K) else float(s * 100 + p)] for p in range(N)]


def telemetry_bytes(pieces: dict[int, list[bytes]]) -> bytes:
    series = [
        b'{"name": "' + name.encode() + b'", "data": [' + b", ".join(pieces[s]) + b"]}"
        for s, name in enumerate(SERIES)
    ]
    return b'{"series": [' + b", ".join(series) + b"]}"


def write_assets(root: Path, items: list[dict], name: str = "assets.json") -> None:
    (root / "assets").mkdir(parents=True, exist_ok=True)
    body = {"totalCount": len(items), "items": items}
    (root / "assets" / name).write_bytes(dumped(body))


POINT_CASES: dict[str, tuple[Callable[[bytes], bytes], str, str]] = {
    "nan": (_replace(MARK_TEXT, b"NaN"), "value", "NaN is not a JSON number"),
    "infinity": (_replace(MARK_TEXT, b"Infinity"), "value", "Infinity is not a JSON number"),
    "1e400": (_replace(MARK_TEXT, b"1e400"), "value", "out of range"),
    "huge-integer": (_replace(MARK_TEXT, b"9" * 400), "value", "out of range"),
    "not-utf8": (_replace(MARK_TEXT, MARK_TEXT + b"\x80"), "value", "not UTF-8"),
    "garbage": (_replace(MARK_TEXT, b"4242,5"), "point", "point is not a [epoch_ms, value] pair"),
    "text-as-value": (_replace(MARK_TEXT, b' "4242.5" '), "value", "non-numeric value '4242.5'"),
    "point-as-object": (
        lambda b: b.replace(b"[", b'{"t": ').replace(b", " + MARK_TEXT + b"]", b"}"),
        "point",
        "not a",
    ),
}


@pytest.mark.parametrize("case", list(POINT_CASES))
def test_a_corrupted_battery_point_costs_only_itself(fresh_db, tmp_path: Path, case: str) -> None:
    change, field, reason = POINT_CASES[case]
    root = tmp_path / "batteries"
    write_assets(root, [{"deviceId": "d1", "description": "one", "state": "Ok"}])
    pieces = {s: [dumped(p) for p in battery_points(s)] for s in range(len(SERIES))}
    pieces[1][K] = change(pieces[1][K])
    (root / "telemetry").mkdir()
    (root / "telemetry" / "d1.json").write_bytes(telemetry_bytes(pieces))

    report = load("batteries", root, fresh_db)

    points = len(SERIES) * N
    assert counts(report) == {"assets/assets.json": (1, 1, 0), "telemetry/d1.json": (points, points - 1, 1)}
    [((_, at), (got_field, got_reason, raw))] = quarantine(fresh_db, "raw_batteries").items()
    assert (at, got_field) == (f"series[1].data[{K}]", field)
    assert reason in got_reason
    assert raw == pieces[1][K]
    held = rows(fresh_db, "select series_name, epoch_ms, value from raw_batteries.telemetry order by 1, 2")
    expected = [
        (name, t, v)
        for s, name in enumerate(SERIES)
        for t, v in battery_points(s)
        if (s, t) != (1, T0 + 60_000 * K)
    ]
    assert held == sorted(expected)


def test_a_file_cut_short_is_one_record_until_it_comes_whole(fresh_db, tmp_path: Path) -> None:
    """Cut inside its last point: which records are complete, and what was to come, is unknown, so the
    file is one quarantined record (every byte kept); its next whole delivery loads every point."""
    root = tmp_path / "batteries"
    write_assets(root, [{"deviceId": "d1", "description": "one", "state": "Ok"}])
    pieces = {s: [dumped(p) for p in battery_points(s)] for s in range(len(SERIES))}
    whole = telemetry_bytes(pieces)
    last = pieces[2][-1]
    cut = whole[: whole.rindex(last) + len(last) // 2]
    (root / "telemetry").mkdir()
    (root / "telemetry" / "d1.json").write_bytes(cut)

    report = load("batteries", root, fresh_db)

    assert counts(report)["telemetry/d1.json"] == (1, 0, 1)
    [((_, at), (field, reason, raw))] = quarantine(fresh_db, "raw_batteries").items()
    assert (at, field, raw) == ("$", None, cut)
    assert reason == "truncated JSON: the file ends before the value it began is complete"
    (root / "telemetry" / "d1.json").write_bytes(whole)
    report = load("batteries", root, fresh_db)
    points = len(SERIES) * N
    assert counts(report)["telemetry/d1.json"] == (points, points, 0)
    assert rows(fresh_db, "select count(*) from raw_batteries.telemetry") == [(points,)]


ASSET_CASES: dict[str, tuple[Change, str, str]] = {
    "nul-in-description": (_set("description", "Fudura\u0000Utrecht"), "description", "NUL character"),
    "list-as-description": (_set("description", ["Fudura"]), "description", "must be a string or null"),
    "list-as-device-id": (_set("deviceId", ["d2"]), "deviceId", "missing or empty deviceId"),
}


@pytest.mark.parametrize("case", list(ASSET_CASES))
def test_a_corrupted_asset_costs_only_itself(fresh_db, tmp_path: Path, case: str) -> None:
    change, field, reason = ASSET_CASES[case]
    items = [{"deviceId": f"d{i}", "description": f"battery {i}", "state": "Ok"} for i in range(N)]
    change(items[K])
    pieces = [dumped(item) for item in items]
    root = tmp_path / "batteries"
    (root / "assets").mkdir(parents=True)
    (root / "assets" / "assets.json").write_bytes(
        b'{"totalCount": ' + str(N).encode() + b', "items": [' + b", ".join(pieces) + b"]}"
    )
    report = load("batteries", root, fresh_db)
    assert counts(report) == {"assets/assets.json": (N, N - 1, 1)}
    [((_, at), (got_field, got_reason, raw))] = quarantine(fresh_db, "raw_batteries").items()
    assert (at, got_field, raw) == (f"items[{K}]", field, pieces[K])
    assert reason in got_reason
    held = rows(fresh_db, "select device_id, description from raw_batteries.assets order by 1")
    assert held == sorted((f"d{i}", f"battery {i}") for i in range(N) if i != K)


def test_an_asset_listed_twice_is_a_quarantined_duplicate(fresh_db, tmp_path: Path) -> None:
    root = tmp_path / "batteries"
    first = [{"deviceId": f"d{i}", "description": f"a {i}", "state": "Ok"} for i in range(N)]
    second = [{"deviceId": f"d{i}", "description": f"b {i}", "state": "Ok"} for i in range(N - 3, N + 4)]
    write_assets(root, first, "a.json")
    write_assets(root, second, "b.json")
    report = load("batteries", root, fresh_db)
    assert counts(report) == {"assets/a.json": (N, N, 0), "assets/b.json": (7, 4, 3)}
    held = dict(rows(fresh_db, "select device_id, description from raw_batteries.assets"))
    assert len(held) == report.loaded  # the table holds what the report says
    assert held == {**{f"d{i}": f"a {i}" for i in range(N)}, **{f"d{i}": f"b {i}" for i in range(N, N + 4)}}
    reasons = {at: reason for (_, at), (_, reason, _) in quarantine(fresh_db, "raw_batteries").items()}
    assert reasons == {
        f"items[{i}]": f"duplicate deviceId 'd{N - 3 + i}': read in assets/a.json in this load (the first one is kept)"
        for i in range(3)
    }


# -- circuits: power samples and init.sql ---------------------------------------------------------------
def power_samples() -> list[dict]:
    stamp = datetime(2024, 4, 1, tzinfo=UTC)
    return [
        {
            "duid": "6D12E310B371FCB1",
            "circuit_number": 1,
            "timestamp": (stamp + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "power_watts": MARK if i == K else 100 + i,
        }
        for i in range(N)
    ]


POWER_CASES: dict[str, tuple[Change, Bytes, str | None, str]] = {
    "nan": (None, _replace(MARK_TEXT, b"NaN"), "power_watts", "NaN is not a JSON number"),
    "minus-infinity": (None, _replace(MARK_TEXT, b"-Infinity"), "power_watts", "-Infinity is not"),
    "1e400": (None, _replace(MARK_TEXT, b"-1e400"), "power_watts", "out of range"),
    "not-utf8-in-duid": (None, _replace(b"6D12E310B371FCB1", b"6D12E310B371FC\xc3\x28"), "duid", "not UTF-8"),
    "list-as-duid": (_set("duid", ["6D12E310B371FCB1"]), None, "duid", "duid must be a non-empty string"),
    "duplicate-key": (None, lambda b: b'{"power_watts": 1, ' + b[1:], None, "duplicate key 'power_watts'"),
}


@pytest.mark.parametrize("case", list(POWER_CASES))
def test_a_corrupted_power_sample_costs_only_itself(fresh_db, tmp_path: Path, case: str) -> None:
    change, change_bytes, field, reason = POWER_CASES[case]
    samples = power_samples()
    if change is not None:
        change(samples[K])
    pieces = [dumped(s) for s in samples]
    if change_bytes is not None:
        pieces[K] = change_bytes(pieces[K])
    (tmp_path / "circuits").mkdir()
    (tmp_path / "circuits" / "power.json").write_bytes(b"[" + b",\n ".join(pieces) + b"]")
    report = load("circuits", tmp_path / "circuits", fresh_db)
    assert counts(report) == {"circuits/power.json": (N, N - 1, 1)}
    [((_, at), (got_field, got_reason, raw))] = quarantine(fresh_db, "raw_circuits").items()
    assert (at, got_field, raw) == (f"[{K}]", field, pieces[K])
    assert reason in got_reason
    held = rows(fresh_db, "select timestamp_iso, power_watts from raw_circuits.power order by 1")
    assert held == [(s["timestamp"], s["power_watts"]) for i, s in enumerate(power_samples()) if i != K]


def test_a_bad_sql_statement_costs_only_itself(fresh_db, tmp_path: Path) -> None:
    statements = [f"INSERT INTO brands (id,name) VALUES ('b{i}','Brand {i}');".encode() for i in range(N)]
    statements[2] = statements[2].replace(b"Brand 2", b"Brand\x002")  # a NUL byte
    statements[4] = statements[4].replace(b"Brand 4", b"Br\xe4nd 4")  # latin-1, not UTF-8
    statements[6] = statements[6].replace(b"'b6'", b"'b1'")  # a key read before
    (tmp_path / "circuits").mkdir()
    (tmp_path / "circuits" / "init.sql").write_bytes(
        BOM + b"BEGIN;\n" + b"\n".join(statements) + b"\nCOMMIT;\n"
    )
    report = load("circuits", tmp_path / "circuits", fresh_db)
    assert counts(report) == {"circuits/init.sql": (N, N - 3, 3)}
    got = {
        at: (reason.split(" ")[0], raw)
        for (_, at), (_, reason, raw) in quarantine(fresh_db, "raw_circuits").items()
    }
    assert got == {
        "line 4": ("NUL", statements[2][:-1]),
        "line 6": ("bytes", statements[4][:-1]),
        "line 8": ("duplicate", statements[6][:-1]),
    }
    held = rows(fresh_db, "select id, name from raw_circuits.brands order by 1")
    assert held == sorted((f"b{i}", f"Brand {i}") for i in range(N) if i not in (2, 4, 6))


# -- devices: registry and JSON lines ---------------------------------------------------------------------
def device(i: int) -> dict:
    return {"device_id": f"dev-{i:02d}", "home_id": "h1", "kind": "appliance", "name": f"Device {i}",
            "timezone": "Europe/Zurich", "specs": {"rated_w": 100 + i}}  # fmt: skip


def test_registry_files_sharing_a_device_id(fresh_db, tmp_path: Path) -> None:
    """The issue's probe: two registry files of 10 and 7 devices sharing 2: the report said 17 loaded
    and the table held 15. Now the second of each pair is a quarantined duplicate."""
    root = tmp_path / "devices"
    root.mkdir()
    (root / "a.json").write_bytes(dumped([device(i) for i in range(10)]))
    (root / "b.json").write_bytes(dumped([device(i) for i in range(8, 15)]))
    report = load("devices", root, fresh_db)
    assert counts(report) == {"devices/a.json": (10, 10, 0), "devices/b.json": (7, 5, 2)}
    assert rows(fresh_db, "select count(*) from raw_devices.devices") == [(report.loaded,)] == [(15,)]
    got = quarantine(fresh_db, "raw_devices")
    assert {key: (field, raw) for key, (field, _, raw) in got.items()} == {
        ("devices/b.json", "[0]"): ("device_id", dumped(device(8))),
        ("devices/b.json", "[1]"): ("device_id", dumped(device(9))),
    }


def reading(i: int) -> dict:
    stamp = datetime(2024, 5, 1, tzinfo=UTC) + timedelta(minutes=15 * i)
    return {"device_id": "dev-01", "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "power_w": MARK if i == K else -100.0 - i, "energy_wh": -25.0, "charge_pct": None, "mode": "idle"}  # fmt: skip


LINE_CASES: dict[str, tuple[Change, Bytes, str | None, str]] = {
    "nan": (None, _replace(MARK_TEXT, b"NaN"), "power_w", "NaN is not a JSON number"),
    "1e400": (None, _replace(MARK_TEXT, b"1e400"), "power_w", "out of range"),
    "not-utf8": (None, _replace(b'"idle"', b'"id\xffle"'), "mode", "not UTF-8"),
    "nul": (_set("mode", "id\u0000le"), None, "mode", "NUL character"),
    "duplicate-key": (None, lambda b: b'{"mode": "boost", ' + b[1:], None, "duplicate key 'mode'"),
    "list-as-mode": (_set("mode", ["idle"]), None, "mode", "must be a string or null"),
    "cut-short": (None, lambda b: b[: len(b) // 2], None, "truncated JSON: the line ends before"),
}


@pytest.mark.parametrize("case", list(LINE_CASES))
def test_a_corrupted_device_reading_costs_only_its_line(fresh_db, tmp_path: Path, case: str) -> None:
    change, change_bytes, field, reason = LINE_CASES[case]
    readings = [reading(i) for i in range(N)]
    if change is not None:
        change(readings[K])
    lines = [dumped(r) for r in readings]
    if change_bytes is not None:
        lines[K] = change_bytes(lines[K])
    root = tmp_path / "devices"
    (root / "telemetry").mkdir(parents=True)
    (root / "devices.json").write_bytes(dumped([device(1)]))
    (root / "telemetry" / "2024-05-01.jsonl").write_bytes(BOM + b"\n".join(lines) + b"\n")
    report = load("devices", root, fresh_db)
    assert counts(report) == {
        "devices/devices.json": (1, 1, 0),
        "devices/telemetry/2024-05-01.jsonl": (N, N - 1, 1),
    }
    [((_, at), (got_field, got_reason, raw))] = quarantine(fresh_db, "raw_devices").items()
    assert (at, got_field, raw) == (f"line {K + 1}", field, lines[K])
    assert reason in got_reason
    held = rows(fresh_db, "select timestamp_iso, power_w from raw_devices.readings order by 1")
    assert held == [
        (r["timestamp"], r["power_w"]) for i, r in enumerate(reading(i) for i in range(N)) if i != K
    ]


# -- files of the wrong kind ------------------------------------------------------------------------------
def gridhouse_load(vendor: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli", "load", vendor, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("vendor", "name", "holds", "expected"),
    [
        ("circuits", "init.sql", "circuit power samples", "circuit metadata (init.sql"),
        ("meters", "power.json", "circuit power samples", "meter readings"),
        ("devices", "devices.json", "meter readings", "a device registry"),
        ("devices", "day.jsonl", "a device registry", "device readings"),
    ],
)
def test_a_file_of_the_wrong_kind_is_one_line_and_exit_2(
    tmp_path: Path, vendor, name, holds, expected
) -> None:
    content = {
        "circuit power samples": dumped(power_samples()),
        "meter readings": dumped({"data": meter_records()}),
        "a device registry": dumped([device(i) for i in range(3)]),
    }[holds]
    path = tmp_path / name
    path.write_bytes(content)
    result = gridhouse_load(vendor, path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert str(path) in lines[0] and holds in lines[0] and expected in lines[0]


def test_a_file_of_the_wrong_kind_in_a_folder_is_one_quarantine_row(fresh_db, tmp_path: Path) -> None:
    root = tmp_path / "circuits"
    root.mkdir()
    (root / "init.sql").write_bytes(dumped(power_samples()))  # power samples named init.sql
    (root / "meters.json").write_bytes(dumped({"data": meter_records()}))
    (root / "power.json").write_bytes(dumped([{**s, "power_watts": 1.0} for s in power_samples()]))
    report = load("circuits", root, fresh_db)
    assert counts(report) == {
        "circuits/init.sql": (1, 0, 1),
        "circuits/meters.json": (1, 0, 1),
        "circuits/power.json": (N, N, 0),
    }
    got = quarantine(fresh_db, "raw_circuits")
    assert got[("circuits/init.sql", "$")] == (
        None,
        "wrong kind of file: it holds circuit power samples (JSON), where circuit metadata (init.sql, SQL "
        "INSERT statements) is expected",
        (root / "init.sql").read_bytes(),
    )
    assert got[("circuits/meters.json", "$")][1].startswith("wrong kind of file: it holds meter readings")
    # loaded again: the same answer, and the files are not silently skipped as read before
    again = load("circuits", root, fresh_db, full_refresh=True)
    assert counts(again) == counts(report)


def test_a_file_whose_name_is_not_utf8_is_reported_not_loaded(fresh_db, tmp_path: Path) -> None:
    """Its name cannot be recorded (`_source_file`): the file is reported as not loaded, the others load."""
    import os

    folder = tmp_path / "meters"
    folder.mkdir()
    (folder / "good.json").write_bytes(dumped({"data": meter_records()}))
    bad = os.path.join(os.fsencode(folder), b"m\xe9ter.json")
    with open(bad, "wb") as f:
        f.write(dumped({"data": [meter_record("m9", meter_stamp(0), 1.0)]}))
    report = load("meters", folder, fresh_db)
    assert [(f.file, f.error) for f in report.failed] == [
        ("meters/m\\xe9ter.json", "the file name is not UTF-8 text: rename the file to load it")
    ]
    assert counts(report)["meters/good.json"] == (N, N, 0)
    assert rows(fresh_db, "select distinct muid from raw_meters.readings") == [("m1",)]
