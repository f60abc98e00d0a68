"""Circuit sensors (seed 002): metadata as the vendor's init.sql INSERTs, per-minute power per UTC day,
and the truth (hourly energy per circuit, daily totals per organization)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.clock import epoch_s, local_features, smooth_noise
from simulator.config import SimConfig
from simulator.jsonfmt import iso_tokens, iso_utc, number_tokens
from simulator.manifest import Event, Manifest
from simulator.progress import Advance
from simulator.rng import entity_rng, hex_id, new_uuid
from simulator.truth import TruthTable, held_power_pieces

NB_HYPHEN = "\u2011"  # the vendor's location names use U+2011 NON-BREAKING HYPHEN
REGIONS = (
    ("East", (("NYC", "America/New_York"), ("Boston", "America/New_York"), ("Philadelphia", "America/New_York"),
              ("Miami", "America/New_York"), ("Atlanta", "America/New_York"))),
    ("Central", (("Chicago", "America/Chicago"), ("Dallas", "America/Chicago"), ("Houston", "America/Chicago"),
                 ("Minneapolis", "America/Chicago"), ("St. Louis", "America/Chicago"))),
    ("West", (("LA", "America/Los_Angeles"), ("SF", "America/Los_Angeles"), ("Seattle", "America/Los_Angeles"),
              ("Portland", "America/Los_Angeles"), ("San Diego", "America/Los_Angeles"))),
    ("Mountain", (("Denver", "America/Denver"), ("Phoenix", "America/Phoenix"), ("Salt Lake", "America/Denver"),
                  ("Boise", "America/Boise"), ("Albuquerque", "America/Denver"))),
    ("North", (("Detroit", "America/Detroit"), ("Cleveland", "America/New_York"),
               ("Milwaukee", "America/Chicago"), ("Buffalo", "America/New_York"), ("Fargo", "America/Chicago"))),
    ("South", (("Nashville", "America/Chicago"), ("Charlotte", "America/New_York"),
               ("New Orleans", "America/Chicago"), ("Austin", "America/Chicago"), ("Tampa", "America/New_York"))),
)  # fmt: skip
MINUTES = 1440
# Event kinds, each forced on circuit (k * 5 + offset) mod n and otherwise drawn with probability p.
EVENT_KINDS = (
    ("long_gap", 0.01),
    ("short_gap", 0.01),
    ("stale", 0.005),
    ("duplicate", 0.01),
    ("malformed", 0.01),
)


@dataclass(frozen=True)
class Circuit:
    index: int
    org: int
    location: int
    sensor_id: str
    duid: str
    number: int
    tz: str
    base_w: float
    peak_w: float
    noise: float


@dataclass
class Metadata:
    brand: tuple[str, str]
    organizations: list[tuple[str, str, str]]  # id, brand_id, name
    locations: list[tuple[str, str, str, str]]  # id, organization_id, name, tz
    sensors: list[tuple[str, str, str, str]]  # id, duid, name, location_id
    circuits: list[Circuit]


def org_name(o: int) -> str:
    region = REGIONS[o % len(REGIONS)][0]
    return f"{region} Franchise" + (f" {o // len(REGIONS) + 1}" if o >= len(REGIONS) else "")


def draw_metadata(config: SimConfig) -> Metadata:
    """The hierarchy brand > organizations > locations > sensors > circuits, ids drawn per entity."""
    seed = config.seed
    brand_rng = entity_rng(seed, "circuits", 0, 0)
    brand = (new_uuid(brand_rng), "DemoBrand")
    orgs, locations, sensors, circuits = [], [], [], []
    duids: set[str] = set()
    for o in range(config.organizations):
        org_id = new_uuid(entity_rng(seed, "circuits", 1, o))
        orgs.append((org_id, brand[0], org_name(o)))
        region, cities = REGIONS[o % len(REGIONS)]
        for j in range(config.locations_per_org):
            city, tz = cities[j % len(cities)]
            suffix = f" {j // len(cities) + 1}" if j >= len(cities) else ""
            loc_id = new_uuid(entity_rng(seed, "circuits", 2, o, j))
            locations.append((loc_id, org_id, f"{region}{NB_HYPHEN}{city}{suffix}", tz))
            for s in range(config.sensors_per_location):
                rng = entity_rng(seed, "circuits", 3, o, j, s)
                sensor_id = new_uuid(rng)
                duid = hex_id(rng)
                while duid in duids:
                    duid = hex_id(rng)
                duids.add(duid)
                sensors.append((sensor_id, duid, f"Panel-{s + 1}", loc_id))
                for c in range(config.circuits_per_sensor):
                    u = entity_rng(seed, "circuits", 4, o, j, s, c).random(3)
                    base = float(np.exp(np.log(150.0) + u[0] * np.log(20_000 / 150.0)))
                    circuits.append(
                        Circuit(len(circuits), o, len(locations) - 1, sensor_id, duid, c + 1, tz,
                                base_w=base, peak_w=base * (0.5 + 2.5 * u[1]), noise=0.05 + 0.15 * u[2])
                    )  # fmt: skip
    return Metadata(brand, orgs, locations, sensors, circuits)


def init_sql(meta: Metadata) -> bytes:
    """INSERTs exactly in the vendor's style: one statement per row, BEGIN/COMMIT, no trailing newline."""

    def q(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    lines = ['CREATE EXTENSION IF NOT EXISTS "uuid-ossp";', "BEGIN;"]
    lines.append(f"INSERT INTO brands (id,name) VALUES ({q(meta.brand[0])},{q(meta.brand[1])});")
    for org_id, brand_id, name in meta.organizations:
        lines.append(
            f"INSERT INTO organizations (id,brand_id,name) VALUES ({q(org_id)},{q(brand_id)},{q(name)});"
        )
    for loc_id, org_id, name, _tz in meta.locations:
        lines.append(
            f"INSERT INTO locations (id,organization_id,name) VALUES ({q(loc_id)},{q(org_id)},{q(name)});"
        )
    for sensor_id, duid, name, loc_id in meta.sensors:
        lines.append(
            "INSERT INTO electric_sensors (id,duid,name,location_id) "
            f"VALUES ({q(sensor_id)},{q(duid)},{q(name)},{q(loc_id)});"
        )
    for c in meta.circuits:
        lines.append(
            f"INSERT INTO circuits (sensor_id,name,circuit_number) VALUES ({q(c.sensor_id)},'Circuit {c.number}',{c.number});"
        )
    lines.append("COMMIT;")
    return "\n".join(lines).encode("utf-8")


def plan_events(config: SimConfig, circuits: list[Circuit]) -> dict[int, dict[str, dict[str, int]]]:
    """Per circuit: kind -> {day, minute, minutes}. Forced kinds make even a small fleet show each."""
    n = len(circuits)
    plans: dict[int, dict[str, dict[str, int]]] = {}
    if not config.events or n == 0:
        return plans
    for c in circuits:
        u = entity_rng(config.seed, "circuits", 6, c.index).random(16)
        for k, (kind, p) in enumerate(EVENT_KINDS):
            if not (u[k] < p or c.index == (5 * k + 1) % n):
                continue
            day = int(u[5 + k] * config.days)
            length = {"long_gap": 30 + int(60 * u[10]), "short_gap": 4 + int(9 * u[11])}.get(kind, 1)
            minute = 60 + int(u[12 + k % 4] * (MINUTES - 120 - length))
            if kind == "stale":
                day, minute, length = config.days - 1, 720 + int(600 * u[15]), MINUTES
            plans.setdefault(c.index, {})[kind] = {"day": day, "minute": minute, "minutes": length}
    return plans


def day_power(config: SimConfig, circuits: list[Circuit], day: int, day_start_s: int) -> np.ndarray:
    """Power (W, int) per minute (rows) and circuit (columns) for one UTC day."""
    t = day_start_s + 60 * np.arange(MINUTES, dtype=np.int64)
    hours: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    power = np.empty((MINUTES, len(circuits)), dtype=np.int64)
    for c in circuits:
        if c.tz not in hours:
            hour, _doy, weekday = local_features(t, c.tz)
            hours[c.tz] = (hour, weekday)
        hour, weekday = hours[c.tz]
        rng = entity_rng(config.seed, "circuits", 5, c.index, day)
        business = np.exp(-(((hour - 13.0) / 4.0) ** 2)) * np.where(weekday >= 5, 0.4, 1.0)
        level = c.base_w + c.peak_w * business
        level = level * np.exp(smooth_noise(rng, MINUTES, 20, c.noise) + rng.normal(0, c.noise / 3, MINUTES))
        power[:, c.index] = np.rint(np.maximum(level, 0.0)).astype(np.int64)
    return power


def encode_day(
    prefixes: list[bytes],
    ts_tokens: list[bytes],
    power: np.ndarray,
    keep: np.ndarray,
    dups: list[int],
    bad: list[int],
) -> bytes:
    """The day's records in the vendor's formatting: by minute, then sensor and circuit (init.sql order).
    `dups` / `bad` are record positions (in the kept records) to repeat / to publish as "n/a"."""
    m, c = power.shape
    grid = np.empty((m, c, 4), dtype=object)
    grid[:, :, 0] = np.array(prefixes, dtype=object)[None, :]
    grid[:, :, 1] = np.array([t + b'", "power_watts": ' for t in ts_tokens], dtype=object)[:, None]
    grid[:, :, 2] = np.array(number_tokens(power.ravel()), dtype=object).reshape(m, c)
    grid[:, :, 3] = b"}, "
    tokens: list[bytes] = grid[keep].ravel().tolist()
    for r in bad:
        tokens[4 * r + 2] = b'"n/a"'
    for r in sorted(dups, reverse=True):
        tokens[4 * r + 4 : 4 * r + 4] = tokens[4 * r : 4 * r + 4]
    if not tokens:
        return b"[]"
    tokens[-1] = b"}"
    return b"[" + b"".join(tokens) + b"]"


class CircuitTruth:
    """Hourly energy per circuit and daily totals per organization, finalised one day behind the
    writer (a day's last sample is held into the next day's first minutes)."""

    def __init__(self, out: Path, meta: Metadata, config: SimConfig) -> None:
        self.meta = meta
        self.config = config
        self.start_hour = epoch_s(config.start) // 3600
        n = len(meta.circuits)
        self.energy = np.zeros((n, 48))  # hours of the pending day and of the current one
        self.covered = np.zeros((n, 48))
        self.samples = np.zeros((n, 48), dtype=np.int64)
        self.carry: list[tuple[int, int] | None] = [None] * n  # last valid (t, p) per circuit
        self.hourly = TruthTable(
            out / "truth" / "circuit_hourly.csv",
            ["duid", "circuit_number", "hour_utc", "energy_kwh", "mean_power_w", "covered_s", "samples"],
        )
        self.orgs = TruthTable(
            out / "truth" / "org_daily.csv",
            ["organization_id", "organization_name", "day", "energy_kwh", "mean_power_w",
             "mean_power_per_circuit_w", "circuits_reporting"],
        )  # fmt: skip

    def add_day(
        self, day: int, t_s: np.ndarray, power: np.ndarray, keep: np.ndarray, bad: set[tuple[int, int]]
    ) -> None:
        """Integrate one UTC day (its valid samples), then finalise the day before."""
        base_hour = self.start_hour + 24 * (day - 1)  # column 0 of the buffers
        for c in self.meta.circuits:
            column = keep[:, c.index]
            bad_rows = [m for m, k in bad if k == c.index]
            if bad_rows:
                column = column.copy()
                column[bad_rows] = False
            rows = np.flatnonzero(column)
            t, p = t_s[rows], power[rows, c.index].astype(np.float64)
            carry = self.carry[c.index]
            if carry is not None:
                t, p = np.concatenate(([carry[0]], t)), np.concatenate(([float(carry[1])], p))
            buckets, wh, seconds = held_power_pieces(t, p)
            np.add.at(self.energy[c.index], buckets - base_hour, wh)
            np.add.at(self.covered[c.index], buckets - base_hour, seconds)
            np.add.at(self.samples[c.index], t_s[rows] // 3600 - base_hour, 1)
            if rows.size:
                self.carry[c.index] = (int(t_s[rows[-1]]), int(power[rows[-1], c.index]))
        if day > 0:
            self._finalise(day - 1, 0)
        self.energy[:, :24], self.covered[:, :24], self.samples[:, :24] = (
            self.energy[:, 24:], self.covered[:, 24:], self.samples[:, 24:]
        )  # fmt: skip
        self.energy[:, 24:], self.covered[:, 24:], self.samples[:, 24:] = 0.0, 0.0, 0

    def finish(self) -> None:
        self._finalise(self.config.days - 1, 0)
        self.hourly.close()
        self.orgs.close()

    def _finalise(self, day: int, column: int) -> None:
        cols = slice(column, column + 24)
        hour0 = self.start_hour + 24 * day
        for c in self.meta.circuits:
            for h in np.flatnonzero((self.samples[c.index, cols] > 0) | (self.covered[c.index, cols] > 0)):
                wh = float(self.energy[c.index, column + h])
                seconds = float(self.covered[c.index, column + h])
                self.hourly.row(
                    c.duid, c.number, iso_utc((hour0 + h) * 3600, millis=False), wh / 1000.0,
                    wh / (seconds / 3600.0) if seconds > 0 else None, int(seconds), int(self.samples[c.index, column + h]),
                )  # fmt: skip
        day_text = str(np.datetime64(hour0 // 24, "D"))
        for o, (org_id, _brand, name) in enumerate(self.meta.organizations):
            members = [c.index for c in self.meta.circuits if c.org == o]
            energy_kwh = float(self.energy[members, cols].sum()) / 1000.0
            reporting = int((self.samples[members, cols].sum(axis=1) > 0).sum())
            mean_w = energy_kwh * 1000.0 / 24.0
            self.orgs.row(
                org_id,
                name,
                day_text,
                energy_kwh,
                mean_w,
                mean_w / reporting if reporting else None,
                reporting,
            )


def write_circuits(config: SimConfig, out: Path, manifest: Manifest, advance: Advance) -> None:
    root = out / "circuits"
    (root / "power").mkdir(parents=True, exist_ok=True)
    meta = draw_metadata(config)
    (root / "init.sql").write_bytes(init_sql(meta))
    circuits = meta.circuits
    plans = plan_events(config, circuits)
    prefixes = [
        b'{"duid": "'
        + c.duid.encode()
        + b'", "circuit_number": '
        + str(c.number).encode()
        + b', "timestamp": "'
        for c in circuits
    ]
    truth = CircuitTruth(out, meta, config)
    counts: Counter[str] = Counter()
    start = epoch_s(config.start)
    for day in range(config.days):
        day_start = start + 86_400 * day
        t_s = day_start + 60 * np.arange(MINUTES, dtype=np.int64)
        power = day_power(config, circuits, day, day_start)
        keep = np.ones(power.shape, dtype=bool)
        marks: list[tuple[Event, int, int, str]] = []
        name = f"{np.datetime64(day_start // 86_400, 'D')}.json"
        for index, plan in plans.items():
            c = circuits[index]
            for kind, ev in plan.items():
                if ev["day"] != day:
                    continue
                first, last = ev["minute"], min(MINUTES, ev["minute"] + ev["minutes"])
                end = None if kind == "stale" else iso_utc(t_s[last - 1] + 60, millis=False)
                event = Event("circuits", kind, f"{c.duid}/{c.number}", start=iso_utc(t_s[first], millis=False),
                              end=end, file=f"circuits/power/{name}")  # fmt: skip
                if kind in ("long_gap", "short_gap", "stale"):
                    keep[first:last, index] = False
                    event.detail = {"missing_samples": last - first}
                marks.append((event, first, index, kind))
        bad = [(m, c) for _e, m, c, kind in marks if kind == "malformed" and keep[m, c]]
        dups = [
            (m, c) for _e, m, c, kind in marks if kind == "duplicate" and keep[m, c] and (m, c) not in bad
        ]
        position = np.cumsum(keep.ravel()).reshape(keep.shape) - 1  # record index of (minute, circuit)
        dup_positions = sorted(int(position[m, c]) for m, c in dups)
        bad_positions = [int(position[m, c]) for m, c in bad]
        for event, m, c, kind in marks:
            if kind in ("duplicate", "malformed"):
                if (m, c) not in (dups if kind == "duplicate" else bad):
                    continue  # fell into a gap: nothing was injected
                p = int(position[m, c])
                at = p + sum(1 for d in dup_positions if d < p) + (1 if kind == "duplicate" else 0)
                event.positions = [f"[{at}]"]
            manifest.add(event)
        body = encode_day(prefixes, iso_tokens(t_s), power, keep, dup_positions, bad_positions)
        (root / "power" / name).write_bytes(body)
        records = int(keep.sum()) + len(dup_positions)
        counts["records"] += records
        counts["records_duplicate"] += len(dup_positions)
        counts["records_malformed"] += len(bad_positions)
        counts["files"] += 1
        truth.add_day(day, t_s, power, keep, set(bad))
        advance(1)
    truth.finish()
    statements = 1 + len(meta.organizations) + len(meta.locations) + len(meta.sensors) + len(circuits)
    quarantined = counts["records_duplicate"] + counts["records_malformed"]
    manifest.counts["circuits"] = {
        "brands": 1,
        "organizations": len(meta.organizations),
        "locations": len(meta.locations),
        "sensors": len(meta.sensors),
        "circuits": len(circuits),
        "power_files": counts["files"],
        "records": counts["records"],
        "records_duplicate": counts["records_duplicate"],
        "records_malformed": counts["records_malformed"],
        "loader": {
            "read": statements + counts["records"],
            "quarantined": quarantined,
            "loaded": statements + counts["records"] - quarantined,
        },
    }
    manifest.truth.update(circuit_hourly="truth/circuit_hourly.csv", org_daily="truth/org_daily.csv")
