"""Battery fleet (vendor of seed 004): physics, injected events, the vendor's JSON files and the truth.

Physics per asset: a site with load and PV, a controller (peak shaving, arbitrage or frequency
response) asking for power, and a battery that delivers what its state of charge, reserve window and
power limits allow. Stored energy moves by sqrt(round-trip efficiency) per direction, capacity fades
with equivalent full cycles and with the square root of calendar age, temperature follows power.
The state update is one numpy step over a chunk of assets at a time (each asset's numbers depend only
on its own inputs), everything else is vectorised per asset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import orjson

from simulator.clock import Clock, epoch_s, smooth_noise, solar_shape
from simulator.config import SimConfig
from simulator.jsonfmt import iso_ms, number_tokens, rounded
from simulator.manifest import Event, Manifest
from simulator.progress import Advance
from simulator.rng import entity_rng, new_uuid
from simulator.truth import (
    OVER_TEMPERATURE_C,
    SOC_LOW_PCT,
    TruthTable,
    counter_deltas,
    counter_resets,
    efc_steps,
    runs,
    soh_crossing_day,
)

SITE_TZ = "Europe/Amsterdam"
# Series in the order the vendor writes them (fixtures/batteries, the Utrecht asset), then ours.
SERIES_ORDER = (
    "BatteryExportKwh",
    "GridExportKwh-submeter",
    "GridImportKwh-submeter",
    "GridImportKwh-mainmeter",
    "GridExportKwh-mainmeter",
    "BatteryImportKwh",
    "GeneratedExportKwh",
    "StateOfChargePercentage",
    "PowerSetpointW",
    "BatteryPowerW",
    "GridPowerW-submeter",
    "PowerSetpointExternalW",
    "GridPowerW-mainmeter",
    "GeneratedPowerW",
    "BatteryTemperatureCelsius",
)
UNKNOWN_UNIT_SERIES = "InverterFrequencyHz"
DECIMALS = {"Kwh": 2, "W": 0, "Percentage": 1, "Celsius": 1, "Hz": 3}
KNOWN_SUFFIXES = ("Kwh", "Watt", "W", "Percentage")  # what the loader's unit table knows today
CITIES = (
    "Utrecht", "Zwolle", "Heerlen", "Amersfoort", "Arnhem", "Breda", "Delft", "Deventer", "Eindhoven",
    "Enschede", "Groningen", "Haarlem", "Leeuwarden", "Leiden", "Maastricht", "Nijmegen", "Tilburg",
    "Venlo", "Almere", "Apeldoorn", "Assen", "Den Bosch", "Dordrecht", "Emmen", "Gouda", "Hengelo",
    "Hilversum", "Lelystad", "Middelburg", "Roermond", "Schiedam", "Sittard", "Vlissingen", "Zaandam",
    "Alkmaar", "Ede",
)  # fmt: skip
NOT_JSON_BODY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
# Event kinds with their probability per asset; kind j is also forced on asset (3 j) mod n so that
# even a 5-asset fleet shows every kind.
EVENT_KINDS = (
    ("soc_low", 0.08),
    ("over_temperature", 0.05),
    ("counter_reset", 0.04),
    ("duplicates", 0.04),
    ("out_of_order", 0.04),
    ("malformed_value", 0.02),
    ("malformed_point", 0.02),
    ("unknown_unit", 0.01),
    ("stale", 0.03),
)
BROKEN_FILES = ("truncated", "not_json")
PROFILES = ("peak_shaving", "arbitrage", "frequency")


def suffix_of(name: str) -> str:
    """The unit suffix of a series name (`GridImportKwh-mainmeter` -> `Kwh`), or '' when unknown."""
    base = name.split("-", 1)[0]
    for suffix in ("Kwh", "Watt", "Percentage", "Celsius", "Hz", "W"):
        if base.endswith(suffix):
            return suffix
    return ""


@dataclass
class Asset:
    """One battery asset's static parameters and its planned events (all drawn from its own rng)."""

    index: int
    device_id: str
    description: str
    profile: str
    nominal_kwh: float
    charge_kw: float
    discharge_kw: float
    round_trip_efficiency: float
    age_days: float
    efc_before: float
    soh_start_pct: float
    fade_pct_per_efc: float
    fade_pct_per_sqrt_day: float
    soc_min: float
    soc_max: float
    soc_start: float
    pv_kw: float
    load_kw: float
    phase_s: int
    temp_offset_c: float
    heat_c: float
    series: tuple[str, ...]
    bases: dict[str, float]
    events: dict[str, dict[str, float | int | str]] = field(default_factory=dict)
    file_status: str = "ok"

    @property
    def eta(self) -> float:
        return float(np.sqrt(self.round_trip_efficiency))

    @property
    def reports_soc(self) -> bool:
        return "StateOfChargePercentage" in self.series


def draw_asset(config: SimConfig, index: int) -> Asset:
    """The asset's parameters. Draw order is fixed, whatever the knobs, so an asset never changes
    because another knob (events on/off, fleet size) changed."""
    n = config.batteries
    rng = entity_rng(config.seed, "batteries", index, 0)
    device_id = new_uuid(rng)
    city = CITIES[index % len(CITIES)]
    description = f"Fudura {city}" + (f" {index // len(CITIES) + 1}" if index >= len(CITIES) else "")
    u = rng.random(24)
    profile = "frequency" if index % 7 == 1 else PROFILES[int(u[0] * 2)]
    if config.battery_profiles:
        profile = config.battery_profiles[index % len(config.battery_profiles)]
    nominal = float(rng.choice([100.0, 200.0, 215.0, 430.0, 500.0, 1000.0, 2000.0]))
    c_rate = 1.5 + 0.5 * u[1] if profile == "frequency" else 0.5 + 0.5 * u[1]
    charge_kw = round(nominal * c_rate, 1)
    discharge_kw = round(charge_kw * (0.9 + 0.2 * u[2]), 1)
    rte = round(0.85 + 0.07 * u[3], 4)
    old = index % 5 == 2 or u[4] < 0.2
    age_days = round(1500 + 1500 * u[5], 1) if old else round(30 + 700 * u[5], 1)
    cycles_per_day = {"frequency": 8.0, "idle": 0.2, "intermittent": 2.0}.get(profile, 0.6 + 0.8 * u[6])
    efc_before = round(age_days * cycles_per_day * (0.7 + 0.3 * u[7]), 2)
    fade_cyc = 0.0035 + 0.003 * u[8]  # % of nominal per EFC
    fade_cal = 0.08 + 0.06 * u[9]  # % of nominal per sqrt(day)
    soh_start = max(70.0, 100.0 - fade_cyc * efc_before - fade_cal * np.sqrt(age_days))
    # The scale speeds up (or slows) ageing during the span only: the history before it is unchanged.
    fade_cyc, fade_cal = fade_cyc * config.battery_fade_scale, fade_cal * config.battery_fade_scale
    soc_min = 0.22 + 0.08 * u[10]
    soc_max = 0.92 + 0.06 * u[11]
    soc_start = soc_min + (soc_max - soc_min) * (0.2 + 0.6 * u[12])
    pv_kw = 0.0 if u[13] < 0.25 else round(nominal * (0.2 + 0.8 * u[14]), 1)
    load_kw = round(nominal * (0.15 + 0.5 * u[15]), 1)
    phase_s = int(u[16] * config.interval)
    temp_offset = -2.0 + 5.0 * u[17]
    heat = 4.0 + 6.0 * u[18]

    s = rng.random(12)
    force_full = index == 0
    no_soc = n >= 3 and index == n - 1
    has_pv = pv_kw > 0
    wanted = {
        "BatteryExportKwh": True,
        "BatteryPowerW": True,
        "BatteryTemperatureCelsius": True,
        "BatteryImportKwh": s[0] < 0.85 or profile == "frequency",
        "StateOfChargePercentage": (s[1] < 0.8 or profile == "frequency") and not no_soc,
        "GridImportKwh-mainmeter": s[2] < 0.9,
        "GridExportKwh-mainmeter": has_pv and s[3] < 0.7,
        "GeneratedPowerW": has_pv and s[4] < 0.8,
        "GeneratedExportKwh": has_pv and s[5] < 0.3,
        "GridImportKwh-submeter": s[6] < 0.4,
        "GridExportKwh-submeter": s[6] < 0.4,
        "GridPowerW-submeter": s[6] < 0.2,
        "GridPowerW-mainmeter": s[7] < 0.4,
        "PowerSetpointW": s[8] < 0.2,
        "PowerSetpointExternalW": s[8] < 0.2,
    }
    if force_full:
        wanted = {name: not (name == "StateOfChargePercentage" and no_soc) for name in wanted}
    if config.battery_profiles:
        # An ageing study needs what the capacity fit reads on every asset: SoC and both battery counters.
        wanted.update(
            dict.fromkeys(("StateOfChargePercentage", "BatteryImportKwh", "BatteryExportKwh"), True)
        )
    series = tuple(name for name in SERIES_ORDER if wanted[name])
    b = rng.random(8)
    throughput = efc_before * nominal
    bases = {
        "BatteryImportKwh": round(throughput / np.sqrt(rte) * (0.98 + 0.04 * b[0]), 2),
        "BatteryExportKwh": round(throughput * np.sqrt(rte) * (0.98 + 0.04 * b[1]), 2),
        "GridImportKwh-mainmeter": round(age_days * load_kw * 24 * (0.3 + 0.3 * b[2]), 2),
        "GridExportKwh-mainmeter": round(age_days * pv_kw * 24 * (0.05 + 0.1 * b[3]), 2),
        "GridImportKwh-submeter": round(age_days * load_kw * 24 * (0.1 + 0.1 * b[4]), 2),
        "GridExportKwh-submeter": round(age_days * pv_kw * 24 * (0.02 + 0.05 * b[5]), 2),
        "GeneratedExportKwh": round(age_days * pv_kw * 24 * (0.05 + 0.1 * b[6]), 2),
    }
    asset = Asset(
        index=index,
        device_id=device_id,
        description=description,
        profile=profile,
        nominal_kwh=nominal,
        charge_kw=charge_kw,
        discharge_kw=discharge_kw,
        round_trip_efficiency=rte,
        age_days=age_days,
        efc_before=efc_before,
        soh_start_pct=round(float(soh_start), 4),
        fade_pct_per_efc=fade_cyc,
        fade_pct_per_sqrt_day=fade_cal,
        soc_min=soc_min,
        soc_max=soc_max,
        soc_start=soc_start,
        pv_kw=pv_kw,
        load_kw=load_kw,
        phase_s=phase_s,
        temp_offset_c=temp_offset,
        heat_c=heat,
        series=series,
        bases=bases,
    )
    _plan_events(asset, config, rng.random(64))
    if index >= n:
        asset.file_status = BROKEN_FILES[(index - n) % len(BROKEN_FILES)]
        asset.events = {}
    return asset


def _plan_events(asset: Asset, config: SimConfig, u: np.ndarray) -> None:
    """Which events the asset gets, and where (as step indices). u: 64 uniforms, slots fixed per kind."""
    n = config.batteries
    steps = config.steps

    def idx(x: float, lo: float, hi: float, length: int) -> int:
        return min(length - 1, max(1, int((lo + (hi - lo) * x) * length)))

    def steps_for(seconds: float) -> int:
        return max(2, int(seconds // config.interval))

    chosen = {
        kind: bool(u[j] < p) or (n > 0 and asset.index == (3 * j) % n)
        for j, (kind, p) in enumerate(EVENT_KINDS)
    }
    if not config.events or asset.index >= n or steps < 30:
        return
    points = steps
    if chosen["stale"]:
        points = idx(u[10], 0.85, 0.95, steps)
        asset.events["stale"] = {"points": points}
    kwh_series = [s for s in asset.series if s in ("BatteryImportKwh", "BatteryExportKwh")]
    value_series = [s for s in asset.series if suffix_of(s) in ("Kwh", "W") and s != "BatteryPowerW"]
    known = [s for s in asset.series if suffix_of(s) in KNOWN_SUFFIXES and s != "BatteryPowerW"]
    if chosen["soc_low"] and asset.reports_soc:
        asset.events["soc_low"] = {
            "start": idx(u[11], 0.05, 0.6, points),
            "steps": steps_for(7200 + 7200 * u[12]),
            "floor": 0.08 + 0.07 * u[13],
        }
    if chosen["over_temperature"]:
        asset.events["over_temperature"] = {
            "start": idx(u[14], 0.05, 0.7, points),
            "steps": max(3, steps_for(1200 + 2400 * u[15])),
            "target": 48.0 + 7.0 * u[16],
        }
    if chosen["counter_reset"]:
        asset.events["counter_reset"] = {
            "series": kwh_series[int(u[17] * len(kwh_series))],
            "at": idx(u[18], 0.1, 0.8, points),
        }
    if chosen["duplicates"]:
        asset.events["duplicates"] = {
            "series": known[int(u[19] * min(2, len(known)))],  # BatteryExportKwh or the next one
            "first": idx(u[20], 0.05, 0.8, points),
            "count": 3 + int(8 * u[21]),
        }
    if chosen["out_of_order"]:
        asset.events["out_of_order"] = {
            "series": "BatteryPowerW",
            "first": idx(u[22], 0.05, 0.8, points - 25),
            "count": 5 + int(16 * u[23]),
        }
    if chosen["malformed_value"] and value_series:
        asset.events["malformed_value"] = {
            "series": value_series[int(u[24] * len(value_series))],
            "at": idx(u[25], 0.05, 0.95, points),
        }
    if chosen["malformed_point"]:
        asset.events["malformed_point"] = {
            "series": "BatteryExportKwh",
            "short": idx(u[26], 0.05, 0.45, points),
            "long": idx(u[27], 0.55, 0.95, points),
        }
    if chosen["unknown_unit"]:
        asset.events["unknown_unit"] = {"points": min(60, points)}


@dataclass
class Run:
    """One asset's simulated span: per-step arrays (physics) and what was emitted."""

    t_ms: np.ndarray
    stored_in: np.ndarray  # kWh into the cells per step
    stored_out: np.ndarray  # kWh out of the cells per step
    capacity: np.ndarray  # kWh at the end of each step
    soc_pct: np.ndarray
    temperature: np.ndarray
    efc: np.ndarray  # cumulative physical EFC since the start of the span
    load_kw: np.ndarray
    pv_kw: np.ndarray
    setpoint_kw: np.ndarray


def _drivers(asset: Asset, config: SimConfig, clock: Clock) -> dict[str, np.ndarray]:
    """Site load, PV and the controller's power request (kW, + = discharge) for one asset."""
    rng = entity_rng(config.seed, "batteries", asset.index, 1)
    n = clock.n
    per_30min = max(1, 1800 // config.interval)
    h = clock.local_hour
    business = np.exp(-(((h - 13.0) / 4.5) ** 2))
    weekend = np.where(clock.weekday >= 5, 0.6, 1.0)
    load = asset.load_kw * (0.45 + 0.55 * business * weekend) * (1 + smooth_noise(rng, n, per_30min, 0.08))
    load = np.maximum(load + rng.normal(0, 0.01 * asset.load_kw, n), 0.02 * asset.load_kw)
    cloud = np.clip(1.0 - np.abs(smooth_noise(rng, n, per_30min, 0.35)), 0.1, 1.0)
    pv = asset.pv_kw * solar_shape(h, clock.day_of_year) * cloud
    dis, chg = asset.discharge_kw, asset.charge_kw
    if asset.profile == "peak_shaving":
        net = load - pv
        threshold = float(np.mean(net))
        request = np.clip(2.0 * (net - threshold), -chg, dis)
    elif asset.profile in ("arbitrage", "idle"):
        night = (h >= 1.0) & (h < 5.0)
        evening = (h >= 17.0) & (h < 21.0)
        request = np.where(night, -0.8 * chg, np.where(evening, 0.8 * dis, 0.0))
        request = request + rng.normal(0, 0.02 * dis, n)
    else:  # frequency response: fast full swings
        period_s = 1800 + 1800 * rng.random()
        phase = 2 * np.pi * rng.random()
        wave = np.sign(np.sin(2 * np.pi * (np.arange(n) * config.interval) / period_s + phase))
        request = wave * np.where(wave > 0, dis, chg) * (0.8 + 0.2 * rng.random(n))
    if asset.profile in ("idle", "intermittent"):
        # Rests on most days and works (arbitrage or frequency response) on about one in four, in runs:
        # cycling that does not grow with calendar time, so that cycle and calendar ageing can be told apart.
        steps_per_day = 86_400 // config.interval
        days = -(-n // steps_per_day)
        active = smooth_noise(rng, days, 3, 1.0) > 0.65
        request = request * np.repeat(active, steps_per_day)[:n]
    ambient = (
        10.0
        + 6.0 * np.cos(2 * np.pi * (clock.day_of_year - 200) / 365.25)
        + 5.0 * np.sin(2 * np.pi * (h - 9.0) / 24.0)
        + asset.temp_offset_c
        + smooth_noise(rng, n, per_30min * 4, 0.8)
    )
    days_elapsed = np.arange(1, n + 1) * (config.interval / 86_400.0)
    calendar = asset.fade_pct_per_sqrt_day * (
        np.sqrt(asset.age_days + days_elapsed) - np.sqrt(asset.age_days)
    )
    return {"load": load, "pv": pv, "request": request, "ambient": ambient, "calendar": calendar}


def simulate_chunk(assets: list[Asset], config: SimConfig, clock: Clock) -> list[Run]:
    """Run the battery physics for a chunk of assets in lock-step (vectorised across assets)."""
    drivers = [_drivers(a, config, clock) for a in assets]
    n, m = clock.n, len(assets)
    dt_h = config.interval / 3600.0

    def col(name: str) -> np.ndarray:
        return np.ascontiguousarray(np.stack([d[name] for d in drivers], axis=1))

    def vec(values: list[float]) -> np.ndarray:
        return np.array(values, dtype=np.float64)

    request, ambient, calendar = col("request"), col("ambient"), col("calendar")
    force = np.zeros((n, m), dtype=bool)
    floor_forced = np.zeros(m)
    for j, a in enumerate(assets):
        ev = a.events.get("soc_low")
        if ev:
            force[int(ev["start"]) : int(ev["start"]) + int(ev["steps"]), j] = True
            floor_forced[j] = float(ev["floor"])
    eta = vec([a.eta for a in assets])
    chg, dis = vec([a.charge_kw for a in assets]), vec([a.discharge_kw for a in assets])
    soc_min, soc_max = vec([a.soc_min for a in assets]), vec([a.soc_max for a in assets])
    nominal_pct = vec([a.nominal_kwh / 100.0 for a in assets])
    soh0, fade = vec([a.soh_start_pct for a in assets]), vec([a.fade_pct_per_efc for a in assets])
    heat, p_max = vec([a.heat_c for a in assets]), np.maximum(chg, dis)
    alpha = min(1.0, config.interval / 900.0)  # thermal time constant 15 min

    cap = nominal_pct * soh0
    energy = vec([a.soc_start for a in assets]) * cap
    efc = np.zeros(m)
    temp = ambient[0].copy()
    out_in, out_out, out_cap, out_soc, out_temp, out_efc = (np.empty((n, m)) for _ in range(6))
    recover = -0.5 * chg
    out_per_kw, in_per_kw = dt_h / eta, dt_h * eta
    for t in range(n):
        forced = force[t]
        p = np.where(forced, dis, np.where(energy < (soc_min - 0.005) * cap, recover, request[t]))
        floor = np.where(forced, floor_forced, soc_min) * cap
        e_out = np.minimum(np.maximum(p, 0.0) * out_per_kw, np.maximum(energy - floor, 0.0))
        e_in = np.minimum(np.maximum(-p, 0.0) * in_per_kw, np.maximum(soc_max * cap - energy, 0.0))
        energy = energy + e_in - e_out
        efc = efc + (e_in + e_out) / (2.0 * cap)
        cap = nominal_pct * (soh0 - fade * efc - calendar[t])
        energy = np.minimum(energy, cap)
        ac_kw = (e_out * eta - e_in / eta) / dt_h
        temp = temp + alpha * (ambient[t] + heat * np.abs(ac_kw) / p_max - temp)
        out_in[t], out_out[t], out_cap[t], out_efc[t], out_temp[t] = e_in, e_out, cap, efc, temp
        out_soc[t] = energy / cap * 100.0
    runs_: list[Run] = []
    base_ms = clock.t_s * 1000
    by_asset = [np.ascontiguousarray(a.T) for a in (out_in, out_out, out_cap, out_soc, out_temp, out_efc)]
    for j, a in enumerate(assets):
        runs_.append(
            Run(
                t_ms=base_ms + a.phase_s * 1000,
                stored_in=by_asset[0][j],
                stored_out=by_asset[1][j],
                capacity=by_asset[2][j],
                soc_pct=by_asset[3][j],
                temperature=by_asset[4][j],
                efc=by_asset[5][j],
                load_kw=drivers[j]["load"],
                pv_kw=drivers[j]["pv"],
                setpoint_kw=drivers[j]["request"],
            )
        )
    return runs_


def series_values(asset: Asset, run: Run, config: SimConfig) -> dict[str, np.ndarray]:
    """The published value of every series of the asset (rounded as the vendor writes them)."""
    rng = entity_rng(config.seed, "batteries", asset.index, 2)
    n = run.t_ms.size
    dt_h = config.interval / 3600.0
    imp = run.stored_in / asset.eta
    exp = run.stored_out * asset.eta
    ac_kw = (exp - imp) / dt_h
    grid = run.load_kw - run.pv_kw - ac_kw
    sub = 0.35 * run.load_kw - 0.4 * run.pv_kw
    pv_export = np.minimum(run.pv_kw, np.maximum(-grid, 0.0))
    p_noise = rng.normal(0, 0.002 * max(asset.charge_kw, asset.discharge_kw) * 1000, n)
    temperature = run.temperature.copy()
    ev = asset.events.get("over_temperature")
    if ev:
        start, length = int(ev["start"]), int(ev["steps"])
        ramp = np.minimum(np.arange(1, length + 1), np.arange(length, 0, -1)) / max(1, min(3, length // 3))
        weight = np.minimum(ramp, 1.0)
        window = slice(start, min(n, start + length))
        size = window.stop - window.start
        temperature[window] += weight[:size] * (float(ev["target"]) - temperature[window])
    raw: dict[str, np.ndarray] = {
        "BatteryImportKwh": asset.bases["BatteryImportKwh"] + np.cumsum(imp),
        "BatteryExportKwh": asset.bases["BatteryExportKwh"] + np.cumsum(exp),
        "BatteryPowerW": ac_kw * 1000 + p_noise,
        "StateOfChargePercentage": run.soc_pct,
        "BatteryTemperatureCelsius": temperature,
        "GeneratedPowerW": run.pv_kw * 1000,
        "GeneratedExportKwh": asset.bases["GeneratedExportKwh"] + np.cumsum(pv_export * dt_h),
        "GridPowerW-mainmeter": grid * 1000,
        "GridImportKwh-mainmeter": asset.bases["GridImportKwh-mainmeter"] + np.cumsum(np.maximum(grid, 0) * dt_h),
        "GridExportKwh-mainmeter": asset.bases["GridExportKwh-mainmeter"] + np.cumsum(np.maximum(-grid, 0) * dt_h),
        "GridPowerW-submeter": sub * 1000,
        "GridImportKwh-submeter": asset.bases["GridImportKwh-submeter"] + np.cumsum(np.maximum(sub, 0) * dt_h),
        "GridExportKwh-submeter": asset.bases["GridExportKwh-submeter"] + np.cumsum(np.maximum(-sub, 0) * dt_h),
        "PowerSetpointW": run.setpoint_kw * 1000,
        "PowerSetpointExternalW": np.zeros(n),
    }  # fmt: skip
    reset = asset.events.get("counter_reset")
    if reset:
        name, at = str(reset["series"]), int(reset["at"])
        values = raw[name]
        raw[name] = np.concatenate((values[:at], values[at:] - values[at - 1]))
    out = {name: rounded(raw[name], DECIMALS[suffix_of(name)]) for name in asset.series}
    if "unknown_unit" in asset.events:
        k = int(asset.events["unknown_unit"]["points"])
        out[UNKNOWN_UNIT_SERIES] = rounded(50.0 + rng.normal(0, 0.015, k), 3)
    return out


@dataclass
class Written:
    """One telemetry file: its bytes, and per series the valid points (for the truth) and counts."""

    content: bytes
    valid: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (epoch_ms, value), sorted, distinct
    counts: Counter[str]
    events: list[Event]


def encode_telemetry(asset: Asset, run: Run, values: dict[str, np.ndarray]) -> Written:
    """The vendor document `{"series": [{"name", "data": [[epoch_ms, value], ...]}]}` with the asset's
    file-level events applied: duplicates, out-of-order points, malformed records, unknown units."""
    points = int(asset.events.get("stale", {}).get("points", run.t_ms.size))
    ts_tokens = number_tokens(run.t_ms[:points])
    # "],[<epoch_ms>," per point, built by one join and one split (no Python loop per point)
    lead = (b"[[" + b",\x00],[".join(ts_tokens) + b",").split(b"\x00") if ts_tokens else []
    counts: Counter[str] = Counter()
    valid: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    events: list[Event] = []
    parts: list[bytes] = [b'{"series":[']
    names = list(values)
    file_name = f"batteries/telemetry/{asset.device_id}.json"
    for s, name in enumerate(names):
        vals = values[name]
        k = min(points, vals.size)
        v_tokens = number_tokens(vals[:k])
        suffix = suffix_of(name)
        counts[f"series_{suffix or 'unknown'}"] += 1
        plan = _series_plan(asset, name)
        parts.append((b'{"name":"' if s == 0 else b',{"name":"') + name.encode() + b'","data":')
        if plan is None:
            body = [b""] * (2 * k)
            body[0::2] = lead[:k]
            body[1::2] = v_tokens
            parts.extend(body)
            parts.append(b"]]}" if k else b"[]}")
            bad: set[int] = set()
            n_items = k
            dups = 0
        else:
            data, bad, n_items, dups, positions = _encode_with_plan(ts_tokens[:k], v_tokens, plan)
            parts.append(data + b"}")
            for kind, where in positions.items():
                ev = asset.events[kind]
                time = iso_ms(int(run.t_ms[int(ev.get("at", ev.get("first", ev.get("short", 0))))]))
                detail = {"count": dups} if kind == "duplicates" else {}
                if kind == "out_of_order":
                    detail = {"count": int(ev["count"])}
                events.append(
                    Event("batteries", kind, asset.device_id, start=time, series=name, file=file_name,
                          positions=[f"series[{s}].data[{p}]" for p in where], detail=detail)
                )  # fmt: skip
        counts["points"] += n_items
        counts["points_duplicate"] += dups
        counts["points_malformed"] += len(bad)
        if suffix == "Celsius":
            counts["points_celsius"] += n_items
        elif suffix not in KNOWN_SUFFIXES:
            counts["points_unknown_suffix"] += n_items
        keep = np.ones(k, dtype=bool)
        if bad:
            keep[sorted(bad)] = False
        valid[name] = (run.t_ms[:k][keep], vals[:k][keep])
    if UNKNOWN_UNIT_SERIES in values:
        events.append(
            Event("batteries", "unknown_unit", asset.device_id, series=UNKNOWN_UNIT_SERIES, file=file_name,
                  positions=[f"series[{names.index(UNKNOWN_UNIT_SERIES)}]"],
                  detail={"points": int(values[UNKNOWN_UNIT_SERIES].size)})
        )  # fmt: skip
    parts.append(b"]}")
    content = b"".join(parts)
    return Written(content, valid, counts, events)


def _series_plan(asset: Asset, name: str) -> dict[str, dict[str, float | int | str]] | None:
    kinds = ("duplicates", "out_of_order", "malformed_value", "malformed_point")
    plan = {k: asset.events[k] for k in kinds if k in asset.events and asset.events[k]["series"] == name}
    return plan or None


def _encode_with_plan(
    ts: list[bytes], vals: list[bytes], plan: dict[str, dict[str, float | int | str]]
) -> tuple[bytes, set[int], int, int, dict[str, list[int]]]:
    """Slow path for the few series with file-level events: (data, bad indices, items, duplicates,
    file positions per event kind)."""
    k = len(ts)
    order = list(range(k))
    if "out_of_order" in plan:
        first, count = int(plan["out_of_order"]["first"]), int(plan["out_of_order"]["count"])
        order[first : first + count] = order[first : first + count][::-1]
    dup_of: set[int] = set()
    if "duplicates" in plan:
        first, count = int(plan["duplicates"]["first"]), int(plan["duplicates"]["count"])
        dup_of = set(range(first, min(k, first + 2 * count), 2))
    special: dict[int, str] = {}
    if "malformed_value" in plan:
        special[int(plan["malformed_value"]["at"])] = "n/a"
    if "malformed_point" in plan:
        special[int(plan["malformed_point"]["short"])] = "short"
        special[int(plan["malformed_point"]["long"])] = "long"
    dup_of -= set(special)
    items: list[bytes] = []
    positions: dict[str, list[int]] = {kind: [] for kind in plan}
    position_of: dict[int, int] = {}
    for i in order:
        kind = special.get(i)
        position_of[i] = len(items)
        if kind == "n/a":
            positions["malformed_value"].append(len(items))
            items.append(b"[" + ts[i] + b',"n/a"]')
        elif kind == "short":
            positions["malformed_point"].append(len(items))
            items.append(b"[" + ts[i] + b"]")
        elif kind == "long":
            positions["malformed_point"].append(len(items))
            items.append(b"[" + ts[i] + b"," + vals[i] + b",0]")
        else:
            items.append(b"[" + ts[i] + b"," + vals[i] + b"]")
        if i in dup_of:
            positions["duplicates"].append(len(items))
            items.append(items[-1])
    if "out_of_order" in plan:
        first, count = int(plan["out_of_order"]["first"]), int(plan["out_of_order"]["count"])
        block = order[first : first + count]
        positions["out_of_order"] = [position_of[block[0]], position_of[block[-1]]]
    return b"[" + b",".join(items) + b"]", set(special), len(items), len(dup_of), positions


class BatteryTruth:
    """The battery truth tables, written as assets are simulated."""

    def __init__(self, truth_dir: Path) -> None:
        self.assets = TruthTable(
            truth_dir / "battery_assets.csv",
            [
                "device_id", "description", "state", "profile", "nominal_capacity_kwh", "max_charge_kw",
                "max_discharge_kw", "round_trip_efficiency", "age_days_at_start", "efc_before_start",
                "soh_start_pct", "reports_soc", "series", "telemetry_file", "last_reading_utc",
                "cycle_fade_pct_per_100_efc", "calendar_fade_pct_per_sqrt_day", "efc_per_day", "soh_end_pct",
                "soh_80_date",
            ],
        )  # fmt: skip
        self.daily = TruthTable(
            truth_dir / "battery_daily.csv",
            [
                "device_id", "day", "energy_charged_kwh", "energy_discharged_kwh", "efc",
                "capacity_kwh", "soh_pct", "efc_lifetime", "physical_charged_kwh", "physical_discharged_kwh",
            ],
        )  # fmt: skip
        self.alerts = TruthTable(
            truth_dir / "battery_alerts.csv",
            ["device_id", "kind", "series_name", "start_utc", "end_utc", "start_epoch_ms", "end_epoch_ms", "value"],
        )  # fmt: skip

    def close(self) -> None:
        for table in (self.assets, self.daily, self.alerts):
            table.close()


def _alerts(asset: Asset, written: Written) -> list[tuple[str, str, int, int | None, float | None]]:
    """Alert episodes found in the written data: (kind, series, start ms, end ms, value)."""
    found: list[tuple[str, str, int, int | None, float | None]] = []
    soc = written.valid.get("StateOfChargePercentage")
    if soc is not None:
        for a, b in runs(soc[1] < SOC_LOW_PCT):
            found.append(("soc_low", "StateOfChargePercentage", int(soc[0][a]), int(soc[0][b]),
                          float(soc[1][a : b + 1].min())))  # fmt: skip
    temp = written.valid.get("BatteryTemperatureCelsius")
    if temp is not None:
        for a, b in runs(temp[1] > OVER_TEMPERATURE_C):
            found.append(("over_temperature", "BatteryTemperatureCelsius", int(temp[0][a]), int(temp[0][b]),
                          float(temp[1][a : b + 1].max())))  # fmt: skip
    for name, (t, v) in written.valid.items():
        if suffix_of(name) == "Kwh":
            for i in counter_resets(v):
                found.append(("counter_reset", name, int(t[i]), int(t[i]), float(v[i])))
    if "stale" in asset.events:
        last = max(int(t[-1]) for t, _ in written.valid.values() if t.size)
        found.append(("stale", "", last, None, None))
    found.sort(key=lambda a: (a[2], a[0], a[1]))
    return found


def _state(asset: Asset, alerts: list[tuple[str, str, int, int | None, float | None]], soh_end: float) -> str:
    if asset.file_status != "ok":
        return "Error"
    kinds = {a[0] for a in alerts}
    if "stale" in kinds:
        return "Offline"
    if kinds & {"soc_low", "over_temperature"} or soh_end < 80.0:
        return "Warning"
    return "Ok"


def _daily_rows(asset: Asset, run: Run, written: Written, config: SimConfig) -> list[list[object]]:
    day0 = epoch_s(config.start) // 86_400
    days = config.days

    def per_day(name: str, steps: np.ndarray | None = None) -> np.ndarray | None:
        if name not in written.valid:
            return None
        t, v = written.valid[name]
        weights = counter_deltas(v) if steps is None else steps
        return np.bincount(t // 86_400_000 - day0, weights=weights, minlength=days)[:days]

    charged = per_day("BatteryImportKwh")
    discharged = per_day("BatteryExportKwh")
    efc = None
    if "StateOfChargePercentage" in written.valid:
        efc = per_day("StateOfChargePercentage", efc_steps(written.valid["StateOfChargePercentage"][1]))
    has_data = np.zeros(days, dtype=bool)
    for t, _ in written.valid.values():
        if t.size:  # series are regular: only stale assets end early, malformed points are single
            has_data[int(t[0] // 86_400_000 - day0) : int(t[-1] // 86_400_000 - day0) + 1] = True
    spd = run.t_ms.size // days
    step_day = np.arange(run.t_ms.size) // spd
    phys_in = np.bincount(step_day, weights=run.stored_in / asset.eta, minlength=days)
    phys_out = np.bincount(step_day, weights=run.stored_out * asset.eta, minlength=days)
    rows: list[list[object]] = []
    for d in np.flatnonzero(has_data):
        end = (d + 1) * spd - 1
        cap = float(run.capacity[end])
        rows.append(
            [
                asset.device_id,
                str(np.datetime64(int(day0 + d), "D")),
                None if charged is None else float(charged[d]),
                None if discharged is None else float(discharged[d]),
                None if efc is None else float(efc[d]),
                cap,
                cap / asset.nominal_kwh * 100.0,
                asset.efc_before + float(run.efc[end]),
                float(phys_in[d]),
                float(phys_out[d]),
            ]
        )
    return rows


@dataclass
class AssetOutput:
    """What one asset contributes besides its telemetry file: rows for assets.json, the truth and the
    manifest (small, so that worker processes can hand them back)."""

    item: dict[str, str]
    asset_row: list[object]
    daily_rows: list[list[object]]
    alert_rows: list[list[object]]
    events: list[dict[str, object]]
    counts: Counter[str]


def simulate_assets(config: SimConfig, out: Path, lo: int, hi: int) -> list[AssetOutput]:
    """Simulate assets lo..hi-1, write their telemetry files, return everything else (a worker's job)."""
    clock = Clock.make(epoch_s(config.start), config.interval, config.steps, SITE_TZ)
    telemetry_dir = out / "batteries" / "telemetry"
    assets = [draw_asset(config, i) for i in range(lo, hi)]
    return [
        _write_asset(asset, run, config, telemetry_dir)
        for asset, run in zip(assets, simulate_chunk(assets, config, clock), strict=True)
    ]


def _job(args: tuple[SimConfig, Path, int, int]) -> list[AssetOutput]:
    return simulate_assets(*args)


def write_batteries(
    config: SimConfig, out: Path, manifest: Manifest, advance: Advance, workers: int = 1
) -> None:
    """Write assets.json, one telemetry file per asset and the battery truth, chunk by chunk; with
    workers > 1 the chunks run in worker processes and are written back in order (same bytes)."""
    root = out / "batteries"
    (root / "assets").mkdir(parents=True, exist_ok=True)
    (root / "telemetry").mkdir(parents=True, exist_ok=True)
    broken = len(BROKEN_FILES) if config.events and config.batteries > 0 else 0
    total = config.batteries + broken
    chunk = max(1, min(512, 1_500_000 // max(1, config.steps)))
    if total * config.steps < 3_000_000:
        workers = 1  # starting processes costs more than it saves
    if workers > 1:
        chunk = max(1, min(chunk, -(-total // (2 * workers))))
    jobs = [(config, out, lo, min(total, lo + chunk)) for lo in range(0, total, chunk)]
    truth = BatteryTruth(out / "truth")
    counts: Counter[str] = Counter()
    with (root / "assets" / "assets.json").open("wb") as assets_file, ExitStack() as stack:
        if workers > 1 and len(jobs) > 1:
            pool = stack.enter_context(ProcessPoolExecutor(workers, mp_context=get_context("spawn")))
            results: Iterator[list[AssetOutput]] = pool.map(_job, jobs)
        else:
            results = map(_job, jobs)
        assets_file.write(b'{\n  "totalCount": %d,\n  "items": [' % total)
        first = True
        for outputs in results:
            for output in outputs:
                text = orjson.dumps(output.item, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n    ")
                assets_file.write((b"\n    " if first else b",\n    ") + text)
                first = False
                truth.assets.row(*output.asset_row)
                for row in output.daily_rows:
                    truth.daily.row(*row)
                for row in output.alert_rows:
                    truth.alerts.row(*row)
                manifest.events.extend(output.events)
                counts.update(output.counts)
                advance(1)
        assets_file.write(b"\n  ]\n}" if total else b"]\n}")
    truth.close()
    points = counts["points"]
    quarantined = (
        counts["points_malformed"] + counts["points_duplicate"] + counts["points_unknown_suffix"] + broken
    )
    manifest.counts["batteries"] = {
        "assets": total,
        "assets_with_malformed_file": broken,
        "telemetry_files": total,
        "series": sum(v for k, v in counts.items() if k.startswith("series_")),
        "series_by_suffix": {k[7:]: v for k, v in sorted(counts.items()) if k.startswith("series_")},
        "points": points,
        "points_malformed": counts["points_malformed"],
        "points_duplicate": counts["points_duplicate"],
        "points_unknown_suffix": counts["points_unknown_suffix"],
        "points_celsius": counts["points_celsius"],
        "loader": {  # what the loader reads: the asset items, every point, one record per broken file
            "read": total + points + broken,
            "quarantined": quarantined + counts["points_celsius"],
            "loaded": total + points - quarantined + broken - counts["points_celsius"],
        },
        "loader_with_celsius_unit": {
            "read": total + points + broken,
            "quarantined": quarantined,
            "loaded": total + points - quarantined + broken,
        },
    }
    manifest.truth.update(
        battery_assets="truth/battery_assets.csv",
        battery_daily="truth/battery_daily.csv",
        battery_alerts="truth/battery_alerts.csv",
    )


def _write_asset(asset: Asset, run: Run, config: SimConfig, telemetry_dir: Path) -> AssetOutput:
    path = telemetry_dir / f"{asset.device_id}.json"
    values = series_values(asset, run, config)
    written = encode_telemetry(asset, run, values)
    soh_end = float(run.capacity[-1] / asset.nominal_kwh * 100.0)
    last_ms = max((int(t[-1]) for t, _ in written.valid.values() if t.size), default=None)
    file_name = f"batteries/telemetry/{asset.device_id}.json"
    daily_rows: list[list[object]] = []
    alert_rows: list[list[object]] = []
    events: list[Event] = []
    counts: Counter[str] = Counter()
    if asset.file_status == "ok":
        path.write_bytes(written.content)
        counts.update(written.counts)
        alerts = _alerts(asset, written)
        daily_rows = _daily_rows(asset, run, written, config)
        for kind, series, start, end, value in alerts:
            alert_rows.append(
                [
                    asset.device_id,
                    kind,
                    series,
                    iso_ms(start),
                    None if end is None else iso_ms(end),
                    start,
                    end,
                    value,
                ]
            )
        events = _events(asset, written, alerts)
    else:
        alerts = []
        last_ms = None
        rng = entity_rng(config.seed, "batteries", asset.index, 3)
        if asset.file_status == "truncated":
            cut = int(len(written.content) * (0.3 + 0.4 * rng.random()))
            while written.content[cut - 1 : cut] in (b"]", b"}", b",", b"["):
                cut -= 1
            path.write_bytes(written.content[:cut])
        else:
            path.write_bytes(NOT_JSON_BODY)
        events = [Event("batteries", f"{asset.file_status}_file", asset.device_id, file=file_name)]
    state = _state(asset, alerts, soh_end)
    asset_row: list[object] = [
        asset.device_id, asset.description, state, asset.profile, asset.nominal_kwh, asset.charge_kw,
        asset.discharge_kw, asset.round_trip_efficiency, asset.age_days, asset.efc_before, asset.soh_start_pct,
        str(asset.reports_soc).lower(), ";".join(asset.series), asset.file_status,
        None if last_ms is None else iso_ms(last_ms),
        *_ageing_truth(asset, run, config),
    ]  # fmt: skip
    item = {"deviceId": asset.device_id, "description": asset.description, "state": state}
    return AssetOutput(item, asset_row, daily_rows, alert_rows, [e.to_dict() for e in events], counts)


def _ageing_truth(asset: Asset, run: Run, config: SimConfig) -> list[object]:
    """The ageing law's figures (SoH in % of nominal): cycle fade per 100 EFC, calendar fade per sqrt(day),
    the span's EFC per day, SoH at its end, and the UTC day SoH reaches 80 % if cycling goes on at that
    rate (the start day if it began below; empty beyond a century)."""
    efc_per_day = float(run.efc[-1]) / config.days
    crossing = soh_crossing_day(
        asset.soh_start_pct,
        asset.fade_pct_per_efc,
        asset.fade_pct_per_sqrt_day,
        asset.age_days,
        efc_per_day,
        80.0,
    )
    day = None if crossing is None else str(np.datetime64(config.start) + np.timedelta64(int(crossing), "D"))
    soh_end = float(run.capacity[-1] / asset.nominal_kwh * 100.0)
    return [asset.fade_pct_per_efc * 100.0, asset.fade_pct_per_sqrt_day, efc_per_day, soh_end, day]


def _events(
    asset: Asset, written: Written, alerts: list[tuple[str, str, int, int | None, float | None]]
) -> list[Event]:
    """Manifest events: the physical ones as found in the data, then the file-level ones."""
    events: list[Event] = []
    for kind, series, start, end, value in alerts:
        if kind not in asset.events:
            continue
        detail: dict[str, float | int] = {} if value is None else {"value": value}
        if kind == "soc_low":
            ev = asset.events["soc_low"]
            detail["forced_floor_pct"] = round(float(ev["floor"]) * 100, 2)
        if kind == "stale":
            detail["points_per_series"] = int(asset.events["stale"]["points"])
        events.append(
            Event("batteries", kind, asset.device_id, start=iso_ms(start),
                  end=None if end is None else iso_ms(end), series=series or None, detail=detail)
        )  # fmt: skip
    return events + written.events
