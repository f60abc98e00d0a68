"""Smart meters (Exnaton, seeds 000/001): one file per meter and OBIS code, newest first, 15-minute
energy in kWh, around both Europe/Zurich DST changes of the start year, with a tenant per meter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from simulator.clock import last_sunday, local_day_bounds_s, local_features, smooth_noise, solar_shape
from simulator.config import SimConfig
from simulator.jsonfmt import interleave, iso_tokens, iso_utc, number_tokens
from simulator.manifest import Event, Manifest
from simulator.progress import Advance
from simulator.rng import entity_rng, new_uuid
from simulator.truth import TruthTable

TZ = "Europe/Zurich"
INTERVAL_S = 900
OBIS_IMPORT = "0100011D00FF"  # 1-0:1.29.0 active energy import per period
OBIS_EXPORT = "0100021D00FF"  # 1-0:2.29.0 active energy export per period


def meter_days(config: SimConfig) -> list[date]:
    """The local days the meters cover: each EU DST change day of the start year, +- meter_days."""
    year = config.start.year
    days: set[date] = set()
    for change in (last_sunday(year, 3), last_sunday(year, 10)):
        for k in range(-config.meter_days, config.meter_days + 1):
            days.add(change + timedelta(days=k))
    return sorted(days)


def interval_grid(days: list[date]) -> tuple[np.ndarray, np.ndarray]:
    """UTC interval starts (epoch s, ascending) covering the local days, and each one's local-day index."""
    starts: list[np.ndarray] = []
    day_index: list[np.ndarray] = []
    for i, day in enumerate(days):
        begin, end = local_day_bounds_s(day, TZ)
        grid = np.arange(begin, end, INTERVAL_S, dtype=np.int64)
        starts.append(grid)
        day_index.append(np.full(grid.size, i, dtype=np.int64))
    return np.concatenate(starts), np.concatenate(day_index)


@dataclass(frozen=True)
class Meter:
    index: int
    muid: str
    tenant: str
    annual_kwh: float
    pv_kwp: float

    @property
    def has_pv(self) -> bool:
        return self.pv_kwp > 0

    @property
    def stem(self) -> str:
        return self.muid[:8]


def tenant_name(k: int) -> str:
    return f"tenant-{k + 1:02d}"


def draw_meters(config: SimConfig) -> list[Meter]:
    """Every meter's identity and size (small: kept in memory). muid prefixes are unique (file names)."""
    meters: list[Meter] = []
    stems: set[str] = set()
    for i in range(config.meters):
        rng = entity_rng(config.seed, "meters", i, 0)
        muid = new_uuid(rng)
        while muid[:8] in stems:
            muid = new_uuid(rng)
        stems.add(muid[:8])
        u = rng.random(4)
        pv = i % 2 == 1 if i < 2 else bool(u[2] < 0.5)
        meters.append(
            Meter(
                index=i,
                muid=muid,
                tenant=tenant_name(i % config.tenants),
                annual_kwh=round(2200 + 4000 * u[0], 1),
                pv_kwp=round(4 + 8 * u[1], 1) if pv else 0.0,
            )
        )
    return meters


def meter_energy(
    meter: Meter, config: SimConfig, t_s: np.ndarray, features: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray | None]:
    """(import, export) kWh per interval as published: import rounded to 4 decimals, export as the
    difference of two rounded figures (so it carries the float noise the real files show)."""
    rng = entity_rng(config.seed, "meters", meter.index, 1)
    hour, doy, weekday = features
    n = t_s.size
    morning = np.exp(-(((hour - 7.5) / 1.2) ** 2))
    evening = np.exp(-(((hour - 19.5) / 2.0) ** 2))
    midday = np.exp(-(((hour - 12.5) / 1.5) ** 2))
    weekend = weekday >= 5
    shape = (
        0.35
        + 0.6 * morning * np.where(weekend, 0.6, 1.0)
        + 1.1 * evening
        + np.where(weekend, 0.5, 0.25) * midday
    )
    mean_kwh = meter.annual_kwh / 35_040
    load = mean_kwh * shape / 0.72 * np.exp(smooth_noise(rng, n, 4, 0.25) + rng.normal(0, 0.15, n))
    load = np.maximum(load, 0.004)
    if not meter.has_pv:
        return np.round(load, 4) + 0.0, None
    cloud = np.clip(1.0 - np.abs(smooth_noise(rng, n, 8, 0.4)), 0.05, 1.0)
    pv = meter.pv_kwp * 0.25 * 0.8 * solar_shape(hour, doy, noon=13.3) * cloud
    imported = np.round(np.maximum(load - pv, 0.0) + 0.002 * (1 + rng.random(n)), 4) + 0.0
    exported = np.where(pv > load, np.round(pv, 4) - np.round(np.minimum(load, pv), 4), 0.0) + 0.0
    return imported, exported


def encode_meter_file(muid: str, obis: str, ts_tokens: list[bytes], values: np.ndarray) -> bytes:
    """`{"data":[{...}, ...]}` minified, newest first (ts_tokens and values already newest first)."""
    n = len(ts_tokens)
    if n == 0:
        return b'{"data":[]}'
    tokens = [b"0" if t == b"0.0" else t for t in number_tokens(values)]  # the vendor writes 0, not 0.0
    middle = b'","tags":{"muid":"' + muid.encode() + b'","quality":"measured"},"' + obis.encode() + b'":'
    parts = interleave(b'{"measurement":"energy","timestamp":"', ts_tokens, middle, tokens, b"},", n=n)
    parts[-1] = b"}"
    return b'{"data":[' + b"".join(parts) + b"]}"


def write_meters(config: SimConfig, out: Path, manifest: Manifest, advance: Advance) -> None:
    root = out / "meters"
    root.mkdir(parents=True, exist_ok=True)
    days = meter_days(config)
    t_s, day_index = interval_grid(days)
    features = local_features(t_s, TZ)
    newest_first = np.arange(t_s.size)[::-1]
    meters = draw_meters(config)
    gap_meter = 1 % config.meters if config.meters and config.events and config.meter_days > 0 else None
    gap = np.zeros(t_s.size, dtype=bool)
    if gap_meter is not None:
        gap_day = days.index(last_sunday(config.start.year, 3) - timedelta(days=1))
        first = int(np.flatnonzero(day_index == gap_day)[40])  # 10:00 local
        gap[first : first + 8] = True
        manifest.add(
            Event("meters", "gap", meters[gap_meter].muid, start=iso_utc(t_s[first]),
                  end=iso_utc(t_s[first + 7] + INTERVAL_S), detail={"intervals": 8})
        )  # fmt: skip
    all_tokens = iso_tokens(t_s, millis=True)
    files = records = 0
    with (
        (root / "tenants.csv").open("w", encoding="utf-8", newline="\n") as tenants,
        TruthTable(
            out / "truth" / "meter_daily.csv",
            [
                "muid",
                "tenant",
                "local_day",
                "import_kwh",
                "import_intervals",
                "export_kwh",
                "export_intervals",
            ],
        ) as truth,
    ):
        tenants.write("muid,tenant\n")
        for meter in meters:
            tenants.write(f"{meter.muid},{meter.tenant}\n")
            keep = ~gap if meter.index == gap_meter else np.ones(t_s.size, dtype=bool)
            order = newest_first[keep[newest_first]]
            tokens = [all_tokens[i] for i in order]
            imported, exported = meter_energy(meter, config, t_s, features)
            per_day: dict[str, np.ndarray] = {}
            for obis, values in ((OBIS_IMPORT, imported), (OBIS_EXPORT, exported)):
                if values is None:
                    continue
                path = root / f"{meter.stem}_{obis}.json"
                path.write_bytes(encode_meter_file(meter.muid, obis, tokens, values[order]))
                files += 1
                records += int(order.size)
                per_day[obis] = np.bincount(day_index[keep], weights=values[keep], minlength=len(days))
                per_day[obis + "n"] = np.bincount(day_index[keep], minlength=len(days))
            for d, day in enumerate(days):
                truth.row(
                    meter.muid,
                    meter.tenant,
                    day.isoformat(),
                    float(per_day[OBIS_IMPORT][d]),
                    int(per_day[OBIS_IMPORT + "n"][d]),
                    float(per_day[OBIS_EXPORT][d]) if OBIS_EXPORT in per_day else 0.0,
                    int(per_day[OBIS_EXPORT + "n"][d]) if OBIS_EXPORT in per_day else 0,
                )
            advance(1)
    manifest.counts["meters"] = {
        "meters": len(meters),
        "tenants": config.tenants,
        "meters_with_pv": sum(1 for m in meters if m.has_pv),
        "files": files,
        "records": records,
        "local_days": [d.isoformat() for d in days],
        "timezone": TZ,
        # the loader reads every reading and every tenants.csv line
        "loader": {"read": records + len(meters), "quarantined": 0, "loaded": records + len(meters)},
    }
    manifest.truth.update(meter_daily="truth/meter_daily.csv", meter_tenants="meters/tenants.csv")
