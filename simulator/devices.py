"""Smart-home devices (seed 003): homes with solar panels, batteries, EVs and appliances.

Our own clean format (docs/simulator.md): a registry `devices/devices.json` and one JSON Lines file per
UTC day `devices/telemetry/<YYYY-MM-DD>.jsonl`, one reading per device and interval. power_w is the
mean power over the interval that starts at `timestamp`: positive = produced (delivered to the home),
negative = consumed. energy_wh = power_w * interval / 3600, with the same sign.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from simulator.clock import epoch_s, local_features, smooth_noise, solar_shape
from simulator.config import SimConfig
from simulator.jsonfmt import interleave, iso_tokens, iso_utc, number_tokens
from simulator.manifest import Event, Manifest
from simulator.progress import Advance
from simulator.rng import entity_rng, new_uuid
from simulator.truth import TruthTable

TIMEZONES = (
    "Europe/Zurich", "Europe/Amsterdam", "Europe/Berlin", "America/New_York", "America/Los_Angeles",
    "Australia/Sydney",
)  # fmt: skip
# name, average W when on, share of time on by (night, morning, day, evening)
APPLIANCES = (
    ("fridge", 150.0, (0.35, 0.45, 0.45, 0.5)),
    ("heat_pump", 2200.0, (0.3, 0.5, 0.2, 0.45)),
    ("washing_machine", 2000.0, (0.0, 0.15, 0.1, 0.15)),
    ("dishwasher", 1800.0, (0.02, 0.05, 0.1, 0.3)),
    ("oven", 2400.0, (0.0, 0.02, 0.1, 0.25)),
    ("dryer", 2800.0, (0.0, 0.05, 0.1, 0.1)),
    ("tv", 120.0, (0.02, 0.1, 0.15, 0.7)),
    ("lighting", 300.0, (0.05, 0.4, 0.05, 0.85)),
)
BATTERY_RESERVE = 0.10
EV_TARGET = 0.95


@dataclass
class Home:
    index: int
    home_id: str
    timezone: str
    devices: list[dict[str, Any]] = field(default_factory=list)  # registry entries, in file order


def draw_home(config: SimConfig, h: int) -> Home:
    rng = entity_rng(config.seed, "devices", h, 0)
    home = Home(h, new_uuid(rng), TIMEZONES[int(rng.integers(len(TIMEZONES)))])
    u = rng.random(16)

    def add(kind: str, name: str, specs: dict[str, Any]) -> None:
        home.devices.append(
            {"device_id": new_uuid(rng), "home_id": home.home_id, "kind": kind, "name": name,
             "timezone": home.timezone, "specs": specs}
        )  # fmt: skip

    if h % 3 == 0 or u[0] < 0.85:
        add("solar_panel", "Roof PV", {"rated_w": float(round(3000 + 7000 * u[1], -2))})
    if h % 3 == 0 or u[2] < 0.5:
        capacity = float(round(5000 + 10000 * u[3], -2))
        limit = float(round(2500 + 2500 * u[4], -2))
        add("battery", "Home battery", {"capacity_wh": capacity, "max_charge_w": limit, "max_discharge_w": limit,
                                         "initial_charge_pct": float(round(30 + 50 * u[5], 1))})  # fmt: skip
    if h % 3 == 1 or u[6] < 0.4:
        add("ev", "Car", {"battery_wh": float(round(40000 + 50000 * u[7], -3)),
                          "max_charge_w": 11000.0 if u[8] < 0.5 else 7400.0,
                          "driving_w": float(round(10000 + 8000 * u[9], -2)),
                          "initial_charge_pct": float(round(40 + 40 * u[10], 1))})  # fmt: skip
    picks = rng.permutation(len(APPLIANCES))[: 2 + int(4 * u[11])]
    for k in sorted(picks.tolist()):
        name, watts, _shares = APPLIANCES[k]
        add("appliance", name, {"average_w": watts})
    return home


def _share(hour: np.ndarray, shares: tuple[float, float, float, float]) -> np.ndarray:
    part = np.select([hour < 6, hour < 10, hour < 17], [0, 1, 2], 3)
    return np.asarray(shares)[part]


def simulate_home(home: Home, config: SimConfig, t_s: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per device: power_w (+ produced / - consumed), charge_pct (storage only) and mode, per interval."""
    rng = entity_rng(config.seed, "devices", home.index, 1)
    n = t_s.size
    dt_h = config.device_interval / 3600.0
    hour, doy, _weekday = local_features(t_s, home.timezone)
    per_hour = max(1, 3600 // config.device_interval)
    out: dict[str, dict[str, np.ndarray]] = {}
    consumption = np.zeros(n)
    solar = np.zeros(n)
    for device in home.devices:
        kind, specs = device["kind"], device["specs"]
        if kind == "solar_panel":
            # the seed's gaussian around local noon (sigma 2.5 h), +-15 % weather, nothing at night
            bell = np.exp(-((hour - 12.0) ** 2) / (2 * 2.5**2)) * (solar_shape(hour, doy, noon=12.0) > 0)
            weather = np.clip(1.0 + smooth_noise(rng, n, per_hour, 0.15), 0.5, 1.15)
            solar = specs["rated_w"] * bell * weather * (0.7 + 0.3 * np.cos(2 * np.pi * (doy - 172) / 365.25))
            out[device["device_id"]] = {"power_w": solar, "mode": np.where(solar > 0, "producing", "idle")}
        elif kind == "appliance":
            shares = next(a[2] for a in APPLIANCES if a[0] == device["name"])
            on = rng.random(n) < _share(hour, shares)
            watts = np.where(on, -specs["average_w"] * (0.9 + 0.2 * rng.random(n)), 0.0)
            consumption += -watts
            out[device["device_id"]] = {"power_w": watts, "mode": np.where(on, "on", "off")}
    ev = next((d for d in home.devices if d["kind"] == "ev"), None)
    ev_power = np.zeros(n)
    if ev is not None:
        specs = ev["specs"]
        leave = 7.0 + 1.5 * rng.random()
        back = 17.0 + 1.5 * rng.random()
        trip = 0.5 + 0.5 * rng.random()
        driving = ((hour >= leave) & (hour < leave + trip)) | ((hour >= back) & (hour < back + trip))
        away = (hour >= leave + trip) & (hour < back)
        stored = specs["battery_wh"] * specs["initial_charge_pct"] / 100.0
        pct = np.empty(n)
        mode = np.empty(n, dtype=object)
        for t in range(n):
            if driving[t]:
                stored = max(0.0, stored - specs["driving_w"] * dt_h)
                mode[t] = "driving"
            elif not away[t] and stored < EV_TARGET * specs["battery_wh"]:
                watts = min(specs["max_charge_w"], (EV_TARGET * specs["battery_wh"] - stored) / dt_h)
                stored += watts * dt_h
                ev_power[t] = -watts
                mode[t] = "charging"
            else:
                mode[t] = "idle"
            pct[t] = stored / specs["battery_wh"] * 100.0
        consumption += -ev_power
        out[ev["device_id"]] = {"power_w": ev_power, "charge_pct": pct, "mode": mode}
    battery = next((d for d in home.devices if d["kind"] == "battery"), None)
    if battery is not None:
        specs = battery["specs"]
        capacity = specs["capacity_wh"]
        stored = capacity * specs["initial_charge_pct"] / 100.0
        surplus = solar - consumption
        power = np.zeros(n)
        pct = np.empty(n)
        for t in range(n):
            if surplus[t] > 0:
                watts = -min(surplus[t], specs["max_charge_w"], (capacity - stored) / dt_h)
            else:
                watts = min(
                    -surplus[t],
                    specs["max_discharge_w"],
                    max(0.0, stored - BATTERY_RESERVE * capacity) / dt_h,
                )
            stored -= watts * dt_h
            power[t] = watts
            pct[t] = stored / capacity * 100.0
        mode = np.where(power < 0, "charging", np.where(power > 0, "discharging", "idle"))
        out[battery["device_id"]] = {"power_w": power, "charge_pct": pct, "mode": mode}
    return {d["device_id"]: out[d["device_id"]] for d in home.devices}


def _text_tokens(values: np.ndarray) -> list[bytes]:
    cache: dict[str, bytes] = {}
    return [cache.setdefault(v, orjson.dumps(v)) for v in values.tolist()]


def encode_lines(
    device_id: str, ts_tokens: list[bytes], series: dict[str, np.ndarray], rows: np.ndarray
) -> bytes:
    """JSON Lines for one device over the given rows (interval indices)."""
    n = rows.size
    if n == 0:
        return b""
    power, energy = series["power_w"][rows], series["energy_wh"][rows]
    charge = number_tokens(series["charge_pct"][rows]) if "charge_pct" in series else b"null"
    parts = interleave(
        b'{"device_id":"' + device_id.encode() + b'","timestamp":"', [ts_tokens[i] for i in rows],
        b'","power_w":', number_tokens(power), b',"energy_wh":', number_tokens(energy),
        b',"charge_pct":', charge, b',"mode":', _text_tokens(series["mode"][rows]), b"}\n", n=n,
    )  # fmt: skip
    return b"".join(parts)


class DayFiles:
    """The day files, appended home by home; kept open unless there are very many days."""

    KEEP_OPEN = 256

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        for path in paths:
            path.write_bytes(b"")
        self.handles = [path.open("ab") for path in paths] if len(paths) <= self.KEEP_OPEN else None

    def write(self, day: int, data: bytes) -> None:
        if self.handles is not None:
            self.handles[day].write(data)
        else:
            with self.paths[day].open("ab") as f:
                f.write(data)

    def __enter__(self) -> DayFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles or []:
            handle.close()


def write_devices(config: SimConfig, out: Path, manifest: Manifest, advance: Advance) -> None:
    root = out / "devices"
    telemetry = root / "telemetry"
    telemetry.mkdir(parents=True, exist_ok=True)
    steps_per_day = 86_400 // config.device_interval
    start = epoch_s(config.start)
    t_s = start + config.device_interval * np.arange(config.days * steps_per_day, dtype=np.int64)
    ts_tokens = iso_tokens(t_s)
    day_names = [f"{np.datetime64(start // 86_400 + d, 'D')}.jsonl" for d in range(config.days)]
    day_files = DayFiles([telemetry / name for name in day_names])
    dt_h = config.device_interval / 3600.0
    counts: Counter[str] = Counter()
    hours = config.days * 24
    with (
        (root / "devices.json").open("wb") as registry,
        TruthTable(
            out / "truth" / "home_hourly.csv",
            ["home_id", "hour_utc", "produced_kwh", "consumed_kwh", "net_kwh", "solar_kwh", "storage_pct"],
        ) as truth,
        day_files,
    ):
        registry.write(b"[")
        first = True
        for h in range(config.homes):
            home = draw_home(config, h)
            series = simulate_home(home, config, t_s)
            offline = None
            if config.events and h == 0 and home.devices:
                device = home.devices[0]
                begin = steps_per_day // 2
                offline = (device["device_id"], begin, begin + 2 * 3600 // config.device_interval)
                manifest.add(
                    Event("devices", "offline", device["device_id"], start=iso_utc(t_s[offline[1]], millis=False),
                          end=iso_utc(t_s[offline[2]], millis=False),
                          detail={"missing_readings": offline[2] - offline[1]})
                )  # fmt: skip
            produced, consumed, solar = np.zeros(hours), np.zeros(hours), np.zeros(hours)
            stored_wh, capacity_wh = np.zeros(hours), 0.0
            hour_of = (t_s - start) // 3600
            lines: list[list[bytes]] = [[] for _ in day_names]
            for device in home.devices:
                registry.write((b"\n" if first else b",\n") + orjson.dumps(device))
                first = False
                counts[device["kind"]] += 1
                s = series[device["device_id"]]
                s["power_w"] = np.round(s["power_w"], 1) + 0.0
                s["energy_wh"] = np.round(s["power_w"] * dt_h, 3) + 0.0
                if "charge_pct" in s:
                    s["charge_pct"] = np.round(s["charge_pct"], 1) + 0.0
                rows = np.arange(t_s.size)
                if offline is not None and offline[0] == device["device_id"]:
                    rows = np.concatenate((rows[: offline[1]], rows[offline[2] :]))
                for d in range(len(day_names)):
                    day_rows = rows[(rows >= d * steps_per_day) & (rows < (d + 1) * steps_per_day)]
                    lines[d].append(encode_lines(device["device_id"], ts_tokens, s, day_rows))
                counts["readings"] += int(rows.size)
                energy = s["energy_wh"][rows]
                produced += np.bincount(hour_of[rows], weights=np.maximum(energy, 0), minlength=hours)
                consumed += np.bincount(hour_of[rows], weights=np.maximum(-energy, 0), minlength=hours)
                if device["kind"] == "solar_panel":
                    solar += np.bincount(hour_of[rows], weights=energy, minlength=hours)
                if device["kind"] == "battery":
                    last = np.flatnonzero(np.diff(hour_of[rows], append=hours)) if rows.size else rows
                    cap = device["specs"]["capacity_wh"]
                    stored_wh[hour_of[rows][last]] += s["charge_pct"][rows][last] / 100.0 * cap
                    capacity_wh += cap
            for d, chunks in enumerate(lines):
                day_files.write(d, b"".join(chunks))
            for k in range(hours):
                truth.row(
                    home.home_id, iso_utc((start // 3600 + k) * 3600, millis=False), produced[k] / 1000.0,
                    consumed[k] / 1000.0, (produced[k] - consumed[k]) / 1000.0, solar[k] / 1000.0,
                    stored_wh[k] / capacity_wh * 100.0 if capacity_wh else None,
                )  # fmt: skip
            advance(1)
        registry.write(b"\n]\n")
    devices = sum(v for k, v in counts.items() if k != "readings")
    manifest.counts["devices"] = {
        "homes": config.homes,
        "devices": devices,
        "devices_by_kind": {k: v for k, v in sorted(counts.items()) if k != "readings"},
        "readings": counts["readings"],
        "files": len(day_names),
        "interval_s": config.device_interval,
        "loader": {
            "read": devices + counts["readings"],
            "quarantined": 0,
            "loaded": devices + counts["readings"],
        },
    }
    manifest.truth.update(home_hourly="truth/home_hourly.csv")
