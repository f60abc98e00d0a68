"""The counter rule on a small battery tree: a point 1.5x up, a point 0.95x down and a real reset.

One asset, two UTC days of minute points. BatteryExportKwh gets the two glitches on day 2, BatteryImportKwh
a real reset on day 2 (the counter restarts from the energy of its step, as the simulator writes one).
Daily energy must equal the clean counters' (computed here from the input written), and each day carries
the label counts the injections imply. The old rule (simulator.truth.counter_deltas: a fall of more than
10 % is a reset, any rise counts) gives the figure the spike rule removes; both are printed (-s).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import rows
from test_battery_support import BATTERY_SELECT
from test_meter_marts import METER_MODELS

ASSET = "c0ffee00-0000-4000-8000-000000000001"
DAY_MS = 86_400_000
START_MS = 1_717_200_000_000  # 2024-06-01T00:00:00Z
MINUTES = 2 * 1440
EXPORT_BASE_KWH = 579_000.0
IMPORT_BASE_KWH = 612_000.0
SPIKE_AT = 1440 + 600  # day 2, 10:00: export reading x 1.5
DIP_AT = 1440 + 900  # day 2, 15:00: export reading x 0.95
RESET_AT = 1440 + 180  # day 2, 03:00: import counter restarts


def _profile() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clean counters (kWh, as published: two decimals) and battery power (W) per minute: charging at
    2.4 kW from 00:00 to 06:00, discharging at 3 kW from 08:00 to 18:00, idle otherwise."""
    minute_of_day = np.arange(MINUTES) % 1440
    charge_kw = np.where(minute_of_day < 360, 2.4, 0.0)
    discharge_kw = np.where((minute_of_day >= 480) & (minute_of_day < 1080), 3.0, 0.0)
    export = np.round(EXPORT_BASE_KWH + np.cumsum(discharge_kw / 60.0), 2)
    imported = np.round(IMPORT_BASE_KWH + np.cumsum(charge_kw / 60.0), 2)
    return export, imported, (discharge_kw - charge_kw) * 1000.0


def _published(export: np.ndarray, imported: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    glitched = export.copy()
    glitched[SPIKE_AT] = round(export[SPIKE_AT] * 1.5, 2)
    glitched[DIP_AT] = round(export[DIP_AT] * 0.95, 2)
    reset = imported.copy()
    reset[RESET_AT:] = np.round(imported[RESET_AT:] - imported[RESET_AT - 1], 2)
    return glitched, reset


def _write_tree(root: Path) -> None:
    export, imported = _published(*_profile()[:2])
    power_w = _profile()[2]
    t_ms = START_MS + 60_000 * np.arange(MINUTES)
    series = {
        "BatteryExportKwh": export,
        "BatteryImportKwh": imported,
        "BatteryPowerW": power_w,
        "StateOfChargePercentage": np.full(MINUTES, 50.0),
    }
    data = {
        name: [[int(t), float(v)] for t, v in zip(t_ms, values, strict=True)]
        for name, values in series.items()
    }
    doc = {"series": [{"name": name, "data": points} for name, points in data.items()]}
    (root / "assets").mkdir(parents=True)
    (root / "telemetry").mkdir()
    assets = {"totalCount": 1, "items": [{"deviceId": ASSET, "description": "glitchy", "state": "Ok"}]}
    (root / "assets" / "assets.json").write_text(json.dumps(assets))
    (root / "telemetry" / f"{ASSET}.json").write_text(json.dumps(doc))


def _truth_per_day(counter: np.ndarray) -> list[float]:
    """Energy per UTC day from a clean counter: a step belongs to the day of the point that ends it."""
    steps = np.diff(counter)
    return [float(steps[: 1440 - 1].sum()), float(steps[1440 - 1 :].sum())]


@pytest.fixture(scope="module")
def glitchy(server, tmp_path_factory: pytest.TempPathFactory):
    from conftest import new_database

    from ingest.build import run_dbt
    from ingest.pipeline import load

    tree = tmp_path_factory.mktemp("glitchy") / "batteries"
    _write_tree(tree)
    conn = new_database(server, "counter_quality")
    load("batteries", tree, conn)
    result = run_dbt(conn, ["build", *BATTERY_SELECT], quiet=True)
    assert result.success, dict(result.statuses)
    return conn


def test_daily_energy_equals_the_clean_counters_and_labels_count_the_injections(glitchy):
    export, imported, _ = _profile()
    got = rows(
        glitchy,
        "select day_utc::text, energy_discharged_kwh, energy_charged_kwh, n_steps_normal, n_steps_gap, "
        "n_steps_spike, n_steps_reset, n_steps_rollback from marts.fct_battery_daily order by day_utc",
    )
    assert [g[0] for g in got] == ["2024-06-01", "2024-06-02"]
    for day, (discharged, charged) in enumerate(
        zip(_truth_per_day(export), _truth_per_day(imported), strict=True)
    ):
        assert abs(got[day][1] - discharged) <= 0.005 * discharged, (day, got[day], discharged)
        assert abs(got[day][2] - charged) <= 0.005 * charged, (day, got[day], charged)
    # Day 1: 1,439 steps per counter, all normal. Day 2: 1,440 per counter; the spike and the dip are two
    # steps each (into and out of the point), the reset one.
    assert got[0][3:] == (2 * 1439, 0, 0, 0, 0)
    assert got[1][3:] == (2 * 1440 - 5, 0, 4, 1, 0)


def test_each_injected_point_has_its_label(glitchy):
    labels = {
        (metric, int(minute)): label
        for metric, minute, label in rows(
            glitchy,
            "select metric, extract(epoch from measured_at - %s::timestamptz) / 60, step_label "
            "from intermediate.int_batteries__counter_points where step_label <> 'normal'",
            ("2024-06-01T00:00:00Z",),
        )
    }
    assert labels == {
        ("BatteryExportKwh", SPIKE_AT): "spike",
        ("BatteryExportKwh", SPIKE_AT + 1): "spike",
        ("BatteryExportKwh", DIP_AT): "spike",
        ("BatteryExportKwh", DIP_AT + 1): "spike",
        ("BatteryImportKwh", RESET_AT): "reset",
    }


def test_energy_error_with_and_without_the_spike_rule(glitchy):
    """The figure the spike rule removes: the old rule on the same published readings."""
    from simulator.truth import counter_deltas

    export, _, _ = _profile()
    published, _ = _published(export, _profile()[1])
    truth = _truth_per_day(export)[1]
    old = float(counter_deltas(published)[1440:].sum())
    new = rows(
        glitchy, "select energy_discharged_kwh from marts.fct_battery_daily where day_utc = '2024-06-02'"
    )
    new_kwh = new[0][0]
    print(f"\nday 2 discharged: truth {truth:,.2f} kWh, spike rule {new_kwh:,.2f} kWh "
          f"({100 * (new_kwh - truth) / truth:+.3f} %), old rule {old:,.2f} kWh ({100 * (old - truth) / truth:+,.0f} %)")  # fmt: skip
    assert abs(new_kwh - truth) <= 0.005 * truth
    assert old > 100 * truth  # the old rule took the fall back from the spike for a reset


def test_meter_interval_beyond_the_meters_power_is_counted_not_summed(fresh_db, tmp_path: Path):
    """An interval reading of 500 kWh (2 MW for 15 minutes, beyond var meter_max_power_kw 250 x 1.25) is
    left out of the interval and the day, and counted; its neighbours add up."""
    from loader_trees import meter_record, write_json

    from ingest.build import run_dbt
    from ingest.pipeline import load

    kwh = [0.25, 500.0, 0.5, 78.0]  # 78 kWh is 312 kW: within 250 kW x 1.25 = 312.5 kW
    stamps = [f"2024-06-03T10:{15 * i:02d}:00.000Z" for i in range(len(kwh))]
    write_json(
        tmp_path / "meters" / "m.json",
        {"data": [meter_record("m1", t, v) for t, v in zip(stamps, kwh, strict=True)]},
    )
    load("meters", tmp_path / "meters", fresh_db)
    result = run_dbt(fresh_db, ["build", "--select", METER_MODELS], quiet=True)
    assert result.success, dict(result.statuses)
    got = rows(
        fresh_db,
        "select import_kwh, n_readings_implausible from marts.fct_meter_interval order by interval_start",
    )
    assert got == [(0.25, 0), (None, 1), (0.5, 0), (78.0, 0)]
    assert rows(fresh_db, "select import_kwh from marts.fct_meter_daily") == [(78.75,)]


def test_device_reading_beyond_its_rating_stays_out_of_the_rollups(fresh_db, tmp_path: Path):
    """A solar panel's reading at 100x its power (a unit slip) is labelled implausible and left out of the
    hourly rollup, which equals the file's other readings of that hour; consumption (negative) stays."""
    import shutil

    from test_device_marts import DEVICE_MODELS

    from ingest.build import run_dbt
    from ingest.pipeline import load
    from simulator import simulate

    simulate(tmp_path / "fleet", seed=5, preset="small", families="devices", start="2024-03-30", days=1)
    registry = json.loads((tmp_path / "fleet" / "devices" / "devices.json").read_text())
    solar = next(d["device_id"] for d in registry if d["kind"] == "solar_panel")
    folder = tmp_path / "devices"
    (folder / "telemetry").mkdir(parents=True)
    shutil.copy(tmp_path / "fleet" / "devices" / "devices.json", folder / "devices.json")
    readings = [
        json.loads(line)
        for line in (tmp_path / "fleet" / "devices" / "telemetry" / "2024-03-30.jsonl").open()
    ]
    glitch = max((r for r in readings if r["device_id"] == solar), key=lambda r: r["energy_wh"])
    assert glitch["energy_wh"] > 0
    hour_start = glitch["timestamp"][:14]  # 2024-03-30T12:
    glitch["power_w"], glitch["energy_wh"] = glitch["power_w"] * 100, glitch["energy_wh"] * 100
    (folder / "telemetry" / "2024-03-30.jsonl").write_text("".join(json.dumps(r) + "\n" for r in readings))
    load("devices", folder, fresh_db)
    result = run_dbt(fresh_db, ["build", "--select", DEVICE_MODELS], quiet=True)
    assert result.success, dict(result.statuses)

    implausible = rows(
        fresh_db,
        "select device_id, measured_at, energy_wh from marts.fct_device_readings where not is_plausible",
    )
    assert [(d, e) for d, _, e in implausible] == [(solar, None)]
    hour = [
        r["energy_wh"] for r in readings
        if r["device_id"] == solar and r["timestamp"].startswith(hour_start) and r is not glitch
    ]  # fmt: skip
    got = rows(
        fresh_db,
        "select produced_kwh, readings from marts.fct_device_energy_hourly where device_id = %s and hour_start = %s",
        (solar, hour_start + "00:00Z"),
    )
    assert got[0][0] == pytest.approx(sum(hour) / 1000.0, abs=1e-9)
    assert got[0][1] == len(hour) + 1  # the reading is still counted as received
    assert rows(fresh_db, "select count(*) from marts.fct_device_readings where energy_wh < 0")[0][0] > 0
