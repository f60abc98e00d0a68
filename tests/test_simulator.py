"""The fleet simulator: its truth agrees with the files it writes (recomputed here independently, from the
files alone), it is deterministic, it counts its malformed records right, and its server behaves."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import re
import urllib.error
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ingest.errors import GridhouseError
from simulator import Manifest, simulate
from simulator.cli import register
from simulator.server import serve_in_thread

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
KNOWN_SUFFIXES = ("Kwh", "Watt", "W", "Percentage", "Celsius")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return simulate(tmp_path_factory.mktemp("fleet"), seed=11, preset="small")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_number(value: object) -> bool:
    return type(value) in (int, float)


def utc_day(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).date().isoformat()


def clean_series(data: list[Any]) -> list[tuple[int, float]]:
    """Valid points of a series, first of each time kept, sorted by time (what a loader keeps)."""
    seen: dict[int, float] = {}
    for point in data:
        if isinstance(point, list) and len(point) == 2 and is_number(point[0]) and is_number(point[1]):
            seen.setdefault(int(point[0]), float(point[1]))
    return sorted(seen.items())


def telemetry(fleet: Manifest) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """device_id -> series name -> clean points, for every telemetry file that parses."""
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for path in sorted((fleet.out / "batteries" / "telemetry").glob("*.json")):
        try:
            doc = json.loads(path.read_bytes())
        except ValueError:
            continue
        out[path.stem] = {s["name"]: clean_series(s["data"]) for s in doc["series"]}
    return out


# --- determinism -------------------------------------------------------------------------------------


def test_same_seed_gives_a_byte_identical_tree_and_another_seed_does_not(
    fleet: Manifest, tmp_path: Path
) -> None:
    again = simulate(tmp_path / "again", seed=11, preset="small")
    other = simulate(tmp_path / "other", seed=12, preset="small")
    assert tree_digest(again.out) == tree_digest(fleet.out)
    assert tree_digest(other.out) != tree_digest(fleet.out)
    ids = {p.name for p in (fleet.out / "batteries" / "telemetry").iterdir()}
    assert ids.isdisjoint(p.name for p in (other.out / "batteries" / "telemetry").iterdir())


def test_an_asset_does_not_depend_on_the_fleet_size(tmp_path: Path) -> None:
    small = simulate(tmp_path / "s", seed=3, batteries=4, days=1, families=["batteries"], events=False)
    large = simulate(tmp_path / "l", seed=3, batteries=6, days=1, families=["batteries"], events=False)
    items = json.loads((small.out / "batteries/assets/assets.json").read_bytes())["items"]
    second = items[1]["deviceId"]
    path = f"batteries/telemetry/{second}.json"
    assert (small.out / path).read_bytes() == (large.out / path).read_bytes()
    assert small.events == [] and small.counts["batteries"]["points_malformed"] == 0


def test_a_previous_output_is_replaced_but_a_foreign_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    simulate(out, seed=1, meters=3, families=["meters"])
    simulate(out, seed=1, meters=1, families=["meters"])
    assert len(list((out / "meters").glob("*_0100011D00FF.json"))) == 1
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(GridhouseError, match="not empty"):
        simulate(foreign, seed=1, families=["meters"])


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"days": 0}, "--days"),
        ({"interval": 7}, "--interval"),
        ({"families": ["batteries", "solar"]}, "--families"),
        ({"start": "01.04.2024"}, "--start"),
        ({"tenants": 0}, "--tenants"),
    ],
)
def test_bad_knobs_are_named(tmp_path: Path, knobs: dict[str, Any], message: str) -> None:
    with pytest.raises(GridhouseError, match=message):
        simulate(tmp_path / "x", seed=1, **knobs)


# --- batteries ---------------------------------------------------------------------------------------


def test_battery_series_use_the_vendor_names_and_units(fleet: Manifest) -> None:
    data = telemetry(fleet)
    assert (
        len(data)
        == fleet.counts["batteries"]["assets"] - fleet.counts["batteries"]["assets_with_malformed_file"]
    )
    suffix = re.compile(r"^[A-Za-z]+?(Kwh|Watt|W|Percentage|Celsius|Hz)(-(mainmeter|submeter))?$")
    for series in data.values():
        assert {"BatteryExportKwh", "BatteryPowerW", "BatteryTemperatureCelsius"} <= set(series)
        assert all(suffix.match(name) for name in series)
        assert series["BatteryExportKwh"][0][1] > 1000  # a cumulative counter, not an interval value
    assert any("StateOfChargePercentage" not in s for s in data.values())  # like Fudura Zwolle
    assets = json.loads((fleet.out / "batteries/assets/assets.json").read_bytes())
    assert assets["totalCount"] == len(assets["items"]) == fleet.counts["batteries"]["assets"]
    assert {i["state"] for i in assets["items"]} <= {"Ok", "Warning", "Offline", "Error"}


def counter_energy_by_day(points: list[tuple[int, float]]) -> dict[str, float]:
    """Sum of positive deltas per UTC day of the later point; a drop of more than 10 % is a reset
    (the new value is energy since the reset); a smaller drop counts nothing."""
    out: dict[str, float] = defaultdict(float)
    for (_t0, v0), (t1, v1) in zip(points, points[1:], strict=False):
        if v1 >= v0:
            out[utc_day(t1)] += v1 - v0
        elif v1 < 0.9 * v0:
            out[utc_day(t1)] += v1
    return out


def test_battery_daily_truth_is_what_the_files_say(fleet: Manifest) -> None:
    data = telemetry(fleet)
    rows = read_csv(fleet.out / "truth/battery_daily.csv")
    assert rows
    stale = {e["entity"] for e in fleet.events_of("batteries", "stale")}
    malformed = {e["entity"] for e in fleet.events if e["kind"].startswith("malformed")}
    checked_physics = 0
    for row in rows:
        series = data[row["device_id"]]
        for column, name in (
            ("energy_charged_kwh", "BatteryImportKwh"),
            ("energy_discharged_kwh", "BatteryExportKwh"),
        ):
            if name not in series:
                assert row[column] == ""
                continue
            expected = counter_energy_by_day(series[name]).get(row["day"], 0.0)
            assert float(row[column]) == pytest.approx(expected, abs=1e-5)
        if "StateOfChargePercentage" in series:
            soc = series["StateOfChargePercentage"]
            efc = sum(
                abs(b[1] - a[1]) / 200
                for a, b in zip(soc, soc[1:], strict=False)
                if utc_day(b[0]) == row["day"]
            )
            assert float(row["efc"]) == pytest.approx(efc, abs=1e-5)
        # away from the first point and from injected gaps, the counters are the physical energy
        clean = row["device_id"] not in stale | malformed and row["day"] != rows[0]["day"]
        if clean and row["energy_discharged_kwh"]:
            assert float(row["energy_discharged_kwh"]) == pytest.approx(
                float(row["physical_discharged_kwh"]), abs=0.011
            )
            checked_physics += 1
    assert checked_physics >= 1


def test_counter_reset_truth_counts_the_energy_after_the_reset(fleet: Manifest) -> None:
    resets = fleet.events_of("batteries", "counter_reset")
    assert resets
    rows = {(r["device_id"], r["day"]): r for r in read_csv(fleet.out / "truth/battery_daily.csv")}
    data = telemetry(fleet)
    for event in resets:
        points = data[event["entity"]][event["series"]]
        when = int(datetime.fromisoformat(event["start"].replace("Z", "+00:00")).timestamp() * 1000)
        at = next(i for i, (t, _v) in enumerate(points) if t == when)
        assert points[at][1] < 0.1 * points[at - 1][1]  # the counter dropped to a small value ...
        assert points[-1][1] > points[at][1]  # ... and grows again
        row = rows[(event["entity"], event["start"][:10])]
        column = "energy_charged_kwh" if event["series"] == "BatteryImportKwh" else "energy_discharged_kwh"
        physical = (
            "physical_charged_kwh" if event["series"] == "BatteryImportKwh" else "physical_discharged_kwh"
        )
        if event["start"][:10] != rows[next(iter(rows))]["day"]:
            assert float(row[column]) == pytest.approx(float(row[physical]), abs=0.011)


def test_state_of_health_declines_and_heavy_cyclers_pass_30_efc(fleet: Manifest) -> None:
    rows = read_csv(fleet.out / "truth/battery_daily.csv")
    by_asset: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_asset[row["device_id"]].append(row)
    assets = {r["device_id"]: r for r in read_csv(fleet.out / "truth/battery_assets.csv")}
    heavy = 0
    for device_id, days in by_asset.items():
        soh = [float(d["soh_pct"]) for d in days]
        assert all(b < a for a, b in zip(soh, soh[1:], strict=False))
        assert soh[0] < float(assets[device_id]["soh_start_pct"])
        efc = [float(d["efc"]) for d in days if d["efc"]]
        if assets[device_id]["profile"] == "frequency":
            assert sum(efc) >= 30
            heavy += 1
    assert heavy >= 1


def runs_below(points: list[tuple[int, float]], test: Any) -> list[tuple[int, int]]:
    episodes: list[tuple[int, int]] = []
    start = last = None
    for t, v in points:
        if test(v):
            start = t if start is None else start
            last = t
        elif start is not None:
            episodes.append((start, last))  # type: ignore[arg-type]
            start = None
    if start is not None:
        episodes.append((start, last))  # type: ignore[arg-type]
    return episodes


def test_alert_episodes_are_the_runs_in_the_data(fleet: Manifest) -> None:
    data = telemetry(fleet)
    alerts = read_csv(fleet.out / "truth/battery_alerts.csv")
    for kind, name, test in (
        ("soc_low", "StateOfChargePercentage", lambda v: v < 20.0),
        ("over_temperature", "BatteryTemperatureCelsius", lambda v: v > 45.0),
    ):
        expected = sorted(
            (device_id, a, b)
            for device_id, s in data.items()
            if name in s
            for a, b in runs_below(s[name], test)
        )
        truth = sorted(
            (r["device_id"], int(r["start_epoch_ms"]), int(r["end_epoch_ms"]))
            for r in alerts
            if r["kind"] == kind
        )
        assert truth == expected and expected, kind
        injected = {(e["entity"], e["start"], e["end"]) for e in fleet.events_of("batteries", kind)}
        assert injected == {
            (r["device_id"], r["start_utc"], r["end_utc"]) for r in alerts if r["kind"] == kind
        }
    last_seen = {d: max(p[-1][0] for p in s.values() if p) for d, s in data.items()}
    stale = [r for r in alerts if r["kind"] == "stale"]
    assert stale and all(int(r["start_epoch_ms"]) == last_seen[r["device_id"]] for r in stale)
    end = max(last_seen.values())
    assert all(last_seen[r["device_id"]] < end - 3_600_000 for r in stale)


def test_malformed_records_are_counted_as_a_strict_reader_finds_them(fleet: Manifest) -> None:
    counts = fleet.counts["batteries"]
    found = defaultdict(int)
    positions: set[str] = set()
    for path in sorted((fleet.out / "batteries" / "telemetry").glob("*.json")):
        try:
            doc = json.loads(path.read_bytes())
        except ValueError:
            found["files"] += 1
            continue
        for s, series in enumerate(doc["series"]):
            base = series["name"].split("-", 1)[0]
            suffix = next((x for x in KNOWN_SUFFIXES if base.endswith(x)), None)
            seen: set[int] = set()
            for p, point in enumerate(series["data"]):
                found["points"] += 1
                if suffix is None:
                    found["unknown"] += 1
                elif suffix == "Celsius":
                    found["celsius"] += 1
                elif not (
                    isinstance(point, list)
                    and len(point) == 2
                    and is_number(point[0])
                    and is_number(point[1])
                ):
                    found["malformed"] += 1
                    positions.add(f"batteries/telemetry/{path.name}:series[{s}].data[{p}]")
                elif point[0] in seen:
                    found["duplicate"] += 1
                seen.add(point[0] if isinstance(point, list) and point else None)
    assert found["files"] == counts["assets_with_malformed_file"] == 2
    assert found["points"] == counts["points"]
    assert found["malformed"] == counts["points_malformed"] >= 3
    assert found["duplicate"] == counts["points_duplicate"] >= 1
    assert found["unknown"] == counts["points_unknown_suffix"] >= 1
    assert found["celsius"] == counts["points_celsius"]
    listed = {
        f"{e['file']}:{p}"
        for e in fleet.events
        if e["kind"] in ("malformed_value", "malformed_point")
        for p in e["positions"]
    }
    assert listed == positions
    loader = counts["loader_with_celsius_unit"]
    assert loader["read"] == loader["loaded"] + loader["quarantined"]
    assert (
        loader["quarantined"] == found["malformed"] + found["duplicate"] + found["unknown"] + found["files"]
    )


# --- meters ------------------------------------------------------------------------------------------


def test_meter_files_cover_both_dst_days_with_92_and_100_intervals(fleet: Manifest) -> None:
    zurich = ZoneInfo("Europe/Zurich")
    tenants = {r["muid"]: r["tenant"] for r in read_csv(fleet.out / "meters/tenants.csv")}
    assert len(tenants) == fleet.counts["meters"]["meters"] == 6 and len(set(tenants.values())) == 2
    intervals: dict[tuple[str, str, str], int] = defaultdict(int)
    energy: dict[tuple[str, str, str], float] = defaultdict(float)
    for path in sorted((fleet.out / "meters").glob("*.json")):
        obis = path.stem.split("_")[1]
        records = json.loads(path.read_bytes())["data"]
        times = [r["timestamp"] for r in records]
        assert times == sorted(times, reverse=True)  # newest first
        for record in records:
            assert set(record) == {"measurement", "timestamp", "tags", obis}
            muid = record["tags"]["muid"]
            assert muid.startswith(path.stem.split("_")[0]) and muid in tenants
            when = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
            day = when.astimezone(zurich).date().isoformat()
            intervals[(muid, day, obis)] += 1
            energy[(muid, day, obis)] += record[obis]
    counts_by_day: dict[str, set[int]] = defaultdict(set)
    for (_muid, day, _obis), n in intervals.items():
        counts_by_day[day].add(n)
    assert counts_by_day["2024-03-31"] == {92}
    assert counts_by_day["2024-10-27"] == {100}
    assert counts_by_day["2024-10-26"] == {96}
    for row in read_csv(fleet.out / "truth/meter_daily.csv"):
        assert row["tenant"] == tenants[row["muid"]]
        key = (row["muid"], row["local_day"])
        assert int(row["import_intervals"]) == intervals[(*key, "0100011D00FF")]
        assert float(row["import_kwh"]) == pytest.approx(energy[(*key, "0100011D00FF")], abs=1e-6)
        assert int(row["export_intervals"]) == intervals.get((*key, "0100021D00FF"), 0)
        assert float(row["export_kwh"]) == pytest.approx(energy.get((*key, "0100021D00FF"), 0.0), abs=1e-6)
    gap = fleet.events_of("meters", "gap")
    assert gap and intervals[(gap[0]["entity"], "2024-03-30", "0100011D00FF")] == 88


# --- circuits ----------------------------------------------------------------------------------------


def test_init_sql_is_in_the_vendor_style(fleet: Manifest) -> None:
    text = (fleet.out / "circuits/init.sql").read_text(encoding="utf-8")
    assert text.startswith('CREATE EXTENSION IF NOT EXISTS "uuid-ossp";\nBEGIN;\n')
    assert text.endswith("COMMIT;") and not text.endswith("\n")
    assert "\u2011" in text and "East\u2011NYC" in text
    assert re.findall(r"INSERT INTO circuits \(([^)]*)\)", text)[0] == "sensor_id,name,circuit_number"
    counts = fleet.counts["circuits"]
    assert text.count("INSERT INTO circuits ") == counts["circuits"] == 24
    assert text.count("INSERT INTO electric_sensors ") == counts["sensors"]


def integrate_hourly(samples: list[tuple[int, float]]) -> tuple[dict[int, float], dict[int, float]]:
    """Hold each sample's power until the next one (nothing across > 15 min, nothing after the last),
    split at hour boundaries: (Wh per hour, covered seconds per hour)."""
    wh: dict[int, float] = defaultdict(float)
    covered: dict[int, float] = defaultdict(float)
    for (t0, p), (t1, _) in zip(samples, samples[1:], strict=False):
        if t1 - t0 > 900:
            continue
        t = t0
        while t < t1:
            edge = min(t1, (t // 3600 + 1) * 3600)
            wh[t // 3600] += p * (edge - t) / 3600
            covered[t // 3600] += edge - t
            t = edge
    return wh, covered


def test_circuit_truth_is_the_held_power_of_the_written_samples(fleet: Manifest) -> None:
    samples: dict[tuple[str, int], dict[int, float]] = defaultdict(dict)
    records = bad = 0
    for path in sorted((fleet.out / "circuits/power").glob("*.json")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith('[{"duid": "') and not text.endswith("\n")
        for record in json.loads(text):
            records += 1
            if not is_number(record["power_watts"]):
                bad += 1
                continue
            t = int(datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp())
            samples[(record["duid"], record["circuit_number"])].setdefault(t, float(record["power_watts"]))
    assert (
        records == fleet.counts["circuits"]["records"]
        and bad == fleet.counts["circuits"]["records_malformed"] == 1
    )
    truth = {
        (r["duid"], int(r["circuit_number"]), r["hour_utc"]): r
        for r in read_csv(fleet.out / "truth/circuit_hourly.csv")
    }
    seen = 0
    for key, by_time in samples.items():
        wh, covered = integrate_hourly(sorted(by_time.items()))
        for hour, energy in wh.items():
            row = truth[(*key, datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%dT%H:00:00Z"))]
            assert float(row["energy_kwh"]) == pytest.approx(energy / 1000, abs=1e-6)
            assert int(row["covered_s"]) == covered[hour]
            seen += 1
    assert seen == sum(1 for r in truth.values() if int(r["covered_s"]) > 0)
    gaps = fleet.events_of("circuits", "long_gap")
    assert gaps  # a gap longer than 15 minutes leaves its hours short of 3600 s
    duid, number = gaps[0]["entity"].split("/")
    hour = gaps[0]["start"][:14] + "00:00Z"
    assert int(truth[(duid, int(number), hour)]["covered_s"]) < 3600


def test_org_daily_truth_adds_up_its_circuits(fleet: Manifest) -> None:
    text = (fleet.out / "circuits/init.sql").read_text(encoding="utf-8")
    org_of_location = dict(
        re.findall(r"INSERT INTO locations \(id,organization_id,name\) VALUES \('([^']+)','([^']+)'", text)
    )
    location_of_duid = {
        duid: loc
        for duid, loc in re.findall(
            r"INSERT INTO electric_sensors \(id,duid,name,location_id\) VALUES \('[^']+','([^']+)','[^']+','([^']+)'\)",
            text,
        )
    }
    totals: dict[tuple[str, str], float] = defaultdict(float)
    reporting: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for row in read_csv(fleet.out / "truth/circuit_hourly.csv"):
        key = (org_of_location[location_of_duid[row["duid"]]], row["hour_utc"][:10])
        totals[key] += float(row["energy_kwh"])
        if int(row["samples"]):
            reporting[key].add((row["duid"], row["circuit_number"]))
    rows = read_csv(fleet.out / "truth/org_daily.csv")
    assert len(rows) == fleet.counts["circuits"]["organizations"] * 2
    for row in rows:
        key = (row["organization_id"], row["day"])
        assert float(row["energy_kwh"]) == pytest.approx(totals[key], abs=1e-4)
        assert int(row["circuits_reporting"]) == len(reporting[key])
        assert float(row["mean_power_w"]) == pytest.approx(float(row["energy_kwh"]) * 1000 / 24, rel=1e-6)


# --- devices -----------------------------------------------------------------------------------------


def test_home_truth_sums_the_device_readings(fleet: Manifest) -> None:
    registry = json.loads((fleet.out / "devices/devices.json").read_bytes())
    home_of = {d["device_id"]: d for d in registry}
    assert {d["kind"] for d in registry} == {"solar_panel", "battery", "ev", "appliance"}
    produced: dict[tuple[str, str], float] = defaultdict(float)
    consumed: dict[tuple[str, str], float] = defaultdict(float)
    readings = 0
    for path in sorted((fleet.out / "devices/telemetry").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            readings += 1
            device = home_of[r["device_id"]]
            assert r["energy_wh"] == pytest.approx(r["power_w"] * 300 / 3600, abs=1e-3)
            if device["kind"] == "solar_panel":
                local = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).astimezone(
                    ZoneInfo(device["timezone"])
                )
                assert r["power_w"] >= 0 and (r["power_w"] == 0 or 5 <= local.hour < 21)
            if device["kind"] in ("battery", "ev"):
                assert 0 <= r["charge_pct"] <= 100
            key = (device["home_id"], r["timestamp"][:13] + ":00:00Z")
            produced[key] += max(r["energy_wh"], 0) / 1000
            consumed[key] += max(-r["energy_wh"], 0) / 1000
    assert readings == fleet.counts["devices"]["readings"]
    rows = read_csv(fleet.out / "truth/home_hourly.csv")
    assert len(rows) == fleet.counts["devices"]["homes"] * 48
    for row in rows:
        key = (row["home_id"], row["hour_utc"])
        assert float(row["produced_kwh"]) == pytest.approx(produced[key], abs=1e-6)
        assert float(row["consumed_kwh"]) == pytest.approx(consumed[key], abs=1e-6)
        assert float(row["net_kwh"]) == pytest.approx(produced[key] - consumed[key], abs=1e-6)


# --- server ------------------------------------------------------------------------------------------


def get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def test_server_pages_assets_and_filters_telemetry_since(fleet: Manifest) -> None:
    server, base = serve_in_thread(fleet.out)
    try:
        total = get(f"{base}/assets?page=1&pageSize=3")["totalCount"]
        pages = [get(f"{base}/assets?page={n}&pageSize=3") for n in range(1, math.ceil(total / 3) + 2)]
        assert [len(p["items"]) for p in pages][-1] == 0
        ids = [i["deviceId"] for p in pages for i in p["items"]]
        assert len(ids) == total == len(set(ids)) == fleet.counts["batteries"]["assets"]
        device_id = next(iter(telemetry(fleet)))
        whole = get(f"{base}/telemetry/{device_id}")
        times = sorted(p[0] for p in whole["series"][0]["data"])
        since = times[len(times) // 2]
        part = get(f"{base}/telemetry/{device_id}?since={since}")
        for full, cut in zip(whole["series"], part["series"], strict=True):
            assert cut["data"] == [p for p in full["data"] if p[0] > since]
        assert sorted(get(f"{base}/meters")) == sorted(p.name for p in (fleet.out / "meters").glob("*.json"))
        assert len(get(f"{base}/circuits/power")) == 2
        with pytest.raises(urllib.error.HTTPError) as missing:
            get(f"{base}/telemetry/no-such-device")
        assert missing.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as bad:
            get(f"{base}/assets?page=0")
        assert bad.value.code == 400
    finally:
        server.stop()


def statuses(base: str, n: int) -> list[int]:
    out = []
    for _ in range(n):
        try:
            with urllib.request.urlopen(f"{base}/assets?page=1&pageSize=2", timeout=5) as response:
                out.append(response.status)
        except urllib.error.HTTPError as exc:
            out.append(exc.code)
    return out


def test_server_injects_500s_deterministically_and_hangs_past_timeouts(fleet: Manifest) -> None:
    first, base = serve_in_thread(fleet.out, fail_rate=0.4, seed=5)
    second, base2 = serve_in_thread(fleet.out, fail_rate=0.4, seed=5)
    hanging, base3 = serve_in_thread(fleet.out, timeout_rate=1.0, hang_s=1.5)
    try:
        pattern = statuses(base, 30)
        assert set(pattern) == {200, 500} and 4 <= pattern.count(500) <= 20
        assert statuses(base2, 30) == pattern
        assert first.injected["fail"] == pattern.count(500)
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            urllib.request.urlopen(f"{base3}/meters", timeout=0.3)
    finally:
        for server in (first, second, hanging):
            server.stop()


@pytest.mark.skipif(not FIXTURES.exists(), reason="no ../shared/fixtures")
def test_server_serves_the_real_fixture_tree() -> None:
    server, base = serve_in_thread(FIXTURES)
    try:
        assert get(f"{base}/assets?pageSize=2")["totalCount"] == 3
        assert sorted(get(f"{base}/meters")) == ["1db7649e.json", "95ce3367.json"]
        assert get(f"{base}/circuits/power") == ["mock_timeseries.json"]
        since = get(f"{base}/telemetry/200e55ab-790b-4049-bf23-f84dc866dd32?since=1738850610000")
        assert all(p[0] > 1738850610000 for s in since["series"] for p in s["data"])
    finally:
        server.stop()


# --- command line ------------------------------------------------------------------------------------


def test_cli_registers_simulate_and_serve(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "cli"
    args = parser.parse_args(["simulate", "--out", str(out), "--seed", "2", "--families", "meters,circuits",
                              "--meters", "2", "--organizations", "1", "--days", "1", "--no-events", "--quiet"])  # fmt: skip
    assert args.func(args) == 0
    manifest = json.loads((out / "manifest.json").read_bytes())
    assert manifest["seed"] == 2 and manifest["params"]["events"] is False and manifest["events"] == []
    assert sorted(manifest["counts"]) == ["circuits", "meters"]
    serve = parser.parse_args(["serve", str(out), "--port", "0", "--fail-rate", "0.1", "--slow-ms", "5"])
    assert serve.fail_rate == 0.1 and callable(serve.func)
    with pytest.raises(SystemExit):
        parser.parse_args(["simulate", "--out", str(out), "--families", "solar"])
