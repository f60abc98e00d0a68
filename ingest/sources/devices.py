"""Smart-home devices (seed 003) in the simulator's format (docs/simulator.md):

- `devices.json`: the registry, a list of {"device_id", "home_id", "kind", "name", "timezone", "specs": {...}};
  kind is solar_panel, battery, ev or appliance; specs depend on the kind (rated_w, capacity_wh, ...).
- `telemetry/<YYYY-MM-DD>.jsonl`: one reading per line, {"device_id", "timestamp" (interval start, UTC),
  "power_w" (mean over the interval: + produced, - consumed), "energy_wh" (same sign), "charge_pct"
  (storage devices, else null), "mode"}.

A registry entry or reading that does not fit is quarantined with its position (`[3]` in the registry,
`line 17` in a telemetry file); read = loaded + quarantined.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from ingest.documents import (
    DEVICE_READINGS,
    DEVICE_REGISTRY,
    Document,
    expect_kind,
    find_files,
    flaw_field,
    json_lines,
    parse_json,
    require_dir,
)
from ingest.errors import GridhouseError
from ingest.quarantine import Flawed, Rejects
from ingest.sources.base import (
    INSTANT_TYPE,
    FirstSeen,
    Parsed,
    Planned,
    Rows,
    RunKeys,
    TableSpec,
    describe,
    is_number,
    iso_epoch_us,
    iso_problem,
    text_problem,
    vendor_source,
)
from ingest.sources.ranges import ANY_SIGN, CHARGE_PCT, TimeWindow, future_tolerance

KINDS = ("solar_panel", "battery", "ev", "appliance")

DEVICES = TableSpec(
    "devices",
    pa.schema(
        [
            pa.field("device_id", pa.string(), nullable=False),
            pa.field("home_id", pa.string(), nullable=False),
            pa.field("kind", pa.string(), nullable=False),
            pa.field("name", pa.string()),
            pa.field("timezone", pa.string()),
            pa.field("specs_json", pa.string()),
        ]
    ),
    ("device_id",),
    "delete-insert",
)

READINGS = TableSpec(
    "readings",
    pa.schema(
        [
            pa.field("device_id", pa.string(), nullable=False),
            pa.field("timestamp_iso", pa.string(), nullable=False),  # as published
            pa.field("measured_at", INSTANT_TYPE, nullable=False),  # the instant timestamp_iso names
            pa.field("power_w", pa.float64(), nullable=False),
            pa.field("energy_wh", pa.float64(), nullable=False),
            pa.field("charge_pct", pa.float64()),
            pa.field("mode", pa.string()),
        ]
    ),
    ("device_id", "measured_at"),
    "append-new",
    series=("device_id",),
    time="measured_at",
    values=("power_w", "energy_wh", "charge_pct", "mode"),
)


def parse_registry(
    doc: Document, rejects: Rejects, loaded_at: datetime, seen: FirstSeen | None = None
) -> Parsed:
    """`seen`: the devices read before in this load, in this registry file or another: one read again
    is a duplicate, quarantined (the first one kept), so the table holds what the report counts."""
    seen = FirstSeen() if seen is None else seen
    body = parse_json(doc, rejects)
    parsed = Parsed()
    if body is not None and not isinstance(body, list):
        rejects.add("$", None, "wrong top-level shape: expected a list of devices", doc.content)
    if not isinstance(body, list):
        parsed.read = 1
        return parsed
    columns: dict[str, list[Any]] = {name: [] for name in DEVICES.schema.names}
    for i, entry in enumerate(body):
        problem = _registry_problem(entry)
        if problem is None and (first := seen.first(entry["device_id"], doc.name)) is not None:
            problem = ("device_id", seen.duplicate("device_id", entry["device_id"], first, doc.name))
        if problem is not None:
            rejects.add(f"[{i}]", problem[0], problem[1], entry, (i,))
            continue
        columns["device_id"].append(entry["device_id"])
        columns["home_id"].append(entry["home_id"])
        columns["kind"].append(entry["kind"])
        columns["name"].append(entry.get("name") if isinstance(entry.get("name"), str) else None)
        columns["timezone"].append(entry.get("timezone") if isinstance(entry.get("timezone"), str) else None)
        columns["specs_json"].append(orjson.dumps(entry.get("specs") or {}).decode())
    parsed.read = len(body)
    parsed.loaded = len(columns["device_id"])
    parsed.tables.append(Rows(DEVICES, DEVICES.table(columns, doc.name, loaded_at)))
    return parsed


def _registry_problem(entry: object) -> tuple[str | None, str] | None:
    if isinstance(entry, Flawed):
        return flaw_field(entry), entry.problem
    if not isinstance(entry, dict):
        return ("$", f"a device must be an object, got {describe(entry)}")
    for key in ("device_id", "home_id"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            return (key, f"missing or empty {key}")
    if entry.get("kind") not in KINDS:
        return (
            "kind",
            f"unknown device kind {describe(entry.get('kind'))}: expected one of {', '.join(KINDS)}",
        )
    if (problem := text_problem(entry, "name") or text_problem(entry, "timezone")) is not None:
        return problem
    if "specs" in entry and entry["specs"] is not None and not isinstance(entry["specs"], dict):
        return ("specs", f"specs must be an object, got {describe(entry['specs'])}")
    return None


def parse_readings(doc: Document, rejects: Rejects, loaded_at: datetime, run_keys: RunKeys) -> Parsed:
    """One reading per line; a time or value outside its plausible range (ingest/sources/ranges.py) is
    quarantined. power_w and energy_wh are signed (+ produced, - consumed): any finite value of bounded
    magnitude loads."""
    window = TimeWindow.at(loaded_at)
    parsed = Parsed()
    columns: dict[str, list[Any]] = {name: [] for name in READINGS.schema.names}
    instants: list[int] = []  # epoch microseconds
    read = 0
    for number, line, record in json_lines(doc.content):
        read += 1
        position = f"line {number}"
        if isinstance(record, Flawed):  # documents.py: the line is the record, every byte of it kept
            rejects.add(position, flaw_field(record), record.problem, line)
            continue
        problem = _reading_problem(record)
        instant = iso_epoch_us(record["timestamp"]) if problem is None else 0
        if problem is None and (why := window.problem_us(instant, record["timestamp"])) is not None:
            problem = ("timestamp", why)
        if problem is not None:
            rejects.add(position, problem[0], problem[1], line)
            continue
        if not run_keys.first_time(record["device_id"], instant):
            rejects.add(
                position,
                "timestamp",
                "duplicate reading: same device and time as one read before in this load (the first one is kept)",
                line,
            )
            continue
        columns["device_id"].append(record["device_id"])
        columns["timestamp_iso"].append(record["timestamp"])
        instants.append(instant)
        columns["power_w"].append(float(record["power_w"]))
        columns["energy_wh"].append(float(record["energy_wh"]))
        charge = record.get("charge_pct")
        columns["charge_pct"].append(None if charge is None else float(charge))
        columns["mode"].append(record.get("mode") if isinstance(record.get("mode"), str) else None)
    parsed.read = read
    parsed.loaded = len(columns["device_id"])
    columns["measured_at"] = np.array(instants, np.int64)
    times_ms = columns["measured_at"] // 1000
    parsed.tables.append(Rows(READINGS, READINGS.table(columns, doc.name, loaded_at), times_ms))
    return parsed


def _reading_problem(record: object) -> tuple[str, str] | None:
    if not isinstance(record, dict):
        return ("$", f"a reading must be an object, got {describe(record)}")
    if not isinstance(record.get("device_id"), str) or not record["device_id"]:
        return ("device_id", "missing or empty device_id")
    if (why := iso_problem(record.get("timestamp"))) is not None:
        return ("timestamp", why)
    for key in ("power_w", "energy_wh"):
        if not is_number(record.get(key)):
            return (key, f"non-numeric {key} {describe(record.get(key))}")
        if (why := ANY_SIGN.problem(key, float(record[key]))) is not None:
            return (key, why)
    charge = record.get("charge_pct")
    if charge is not None and not is_number(charge):
        return ("charge_pct", f"non-numeric charge_pct {describe(charge)}")
    if charge is not None and (why := CHARGE_PCT.problem("charge_pct", float(charge))) is not None:
        return ("charge_pct", why)
    return text_problem(record, "mode")


def plan(path: Path) -> list[Planned]:
    """The registry (devices.json) first, then every telemetry *.jsonl under `path`."""
    future_tolerance()  # a tolerance that is not a number stops the command here, before anything is read
    root = require_dir(Path(path), "devices", "devices.json and telemetry/*.jsonl")
    run_keys = RunKeys()
    seen = FirstSeen()
    label = root.name if root.is_dir() else "devices"

    def readings(doc: Document, rejects: Rejects, loaded_at: datetime) -> Parsed:
        return parse_readings(doc, rejects, loaded_at, run_keys)

    def registry(doc: Document, rejects: Rejects, loaded_at: datetime) -> Parsed:
        return parse_registry(doc, rejects, loaded_at, seen)

    if root.is_file():
        kind = DEVICE_READINGS if root.suffix == ".jsonl" else DEVICE_REGISTRY
        expect_kind(root, "devices", kind)
        parse = readings if kind == DEVICE_READINGS else registry
        files = [Planned(f, parse, kind) for f in find_files(root, "*", label)]
    else:
        files = [Planned(f, registry, DEVICE_REGISTRY) for f in find_files(root, "*.json", label)]
        files += [Planned(f, readings, DEVICE_READINGS) for f in find_files(root, "*.jsonl", label)]
    if not files:
        raise GridhouseError(
            f"devices: {root} has no devices.json or telemetry *.jsonl files; point it at the devices folder"
        )
    return files


devices = vendor_source(
    "devices", "device_files", "Smart-home device registry and per-interval device readings."
)
