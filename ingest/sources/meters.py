"""Smart meters (seeds 000/001, Exnaton): `{"data": [...]}` files, or a bare list (the power endpoint).

A record: {"measurement": "energy", "timestamp": "2023-02-28T23:45:00.000Z",
           "tags": {"muid": "...", "quality": "measured"}, "0100011D00FF": 0.0117}
Every 12-hex-digit key is an OBIS code with its value; one raw row per (record, OBIS key).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import numpy as np
import pyarrow as pa

from ingest.documents import Document, find_files, parse_json, require_dir
from ingest.errors import GridhouseError
from ingest.quarantine import Rejects
from ingest.remote import UrlInput, is_url, listing
from ingest.reports import FileReport
from ingest.sources.base import (
    Parsed,
    Planned,
    Rows,
    RunKeys,
    TableSpec,
    describe,
    is_number,
    iso_epoch_ms,
    iso_problem,
    vendor_resource,
)

OBIS_KEY = re.compile(r"^[0-9A-Fa-f]{12}$")

READINGS = TableSpec(
    "readings",
    pa.schema(
        [
            pa.field("muid", pa.string(), nullable=False),
            pa.field("obis_code", pa.string(), nullable=False),
            pa.field("timestamp_iso", pa.string(), nullable=False),
            pa.field("value", pa.float64(), nullable=False),
            pa.field("measurement", pa.string()),
            pa.field("quality", pa.string()),
        ]
    ),
    ("muid", "obis_code", "timestamp_iso"),
    "append-new",
    series=("muid", "obis_code"),
)


def parse_readings(doc: Document, rejects: Rejects, loaded_at: datetime, run_keys: RunKeys) -> Parsed:
    body = parse_json(doc, rejects)
    parsed = Parsed()
    records = body.get("data") if isinstance(body, dict) else body
    if body is not None and not isinstance(records, list):
        rejects.add(
            "$", "data", 'wrong top-level shape: expected {"data": [...]} or a list of readings', body
        )
    if not isinstance(records, list):
        parsed.read = 1
        return parsed
    columns: dict[str, list[Any]] = {name: [] for name in READINGS.schema.names}
    times: list[int] = []
    read = 0
    for i, record in enumerate(records):
        keys = [k for k in record if OBIS_KEY.match(k)] if isinstance(record, dict) else []
        if not keys:
            read += 1
            rejects.add(f"data[{i}]", "obis", "reading without an OBIS value key (12 hex digits)", record)
            continue
        read += len(keys)
        tags = record.get("tags")
        muid = tags.get("muid") if isinstance(tags, dict) else None
        problem: tuple[str, str] | None = None
        if not isinstance(muid, str) or not muid:
            problem = ("tags.muid", "missing or empty tags.muid")
        elif (why := iso_problem(record.get("timestamp"))) is not None:
            problem = ("timestamp", why)
        for key in keys:
            position = f"data[{i}].{key}"
            value = record[key]
            if problem is not None:
                rejects.add(position, problem[0], problem[1], record)
            elif not is_number(value):
                rejects.add(position, key, f"non-numeric value {describe(value)}", record)
            elif not run_keys.first_time(muid, key.upper(), record["timestamp"]):
                rejects.add(
                    position,
                    key,
                    "duplicate reading: same meter, OBIS code and time "
                    "as one read before in this load (the first one is kept)",
                    record,
                )
            else:
                columns["muid"].append(muid)
                columns["obis_code"].append(key.upper())
                columns["timestamp_iso"].append(record["timestamp"])
                times.append(iso_epoch_ms(record["timestamp"]))
                columns["value"].append(float(value))
                columns["measurement"].append(_text(record.get("measurement")))
                columns["quality"].append(_text(tags.get("quality")))
    parsed.read = read
    parsed.loaded = len(columns["value"])
    parsed.tables.append(
        Rows(READINGS, READINGS.table(columns, doc.name, loaded_at), np.array(times, np.int64))
    )
    return parsed


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def plan(path: Path | str) -> list[Planned]:
    """Every *.json file under `path` (or the one file `path`), or every file the API lists."""
    run_keys = RunKeys()

    def parse(doc: Document, rejects: Rejects, loaded_at: datetime) -> Parsed:
        return parse_readings(doc, rejects, loaded_at, run_keys)

    if is_url(path):
        base = str(path).rstrip("/")
        return [
            Planned(UrlInput(f"{base}/meters/{n}", f"{base}/meters/{n}"), parse)
            for n in listing(f"{base}/meters")
        ]
    root = require_dir(Path(path), "meters", "Exnaton *.json files")
    files = [Planned(f, parse) for f in find_files(root, "*.json", root.name if root.is_dir() else "meters")]
    if not files:
        raise GridhouseError(f"meters: {root} has no *.json files; point it at a folder of Exnaton files")
    return files


@dlt.source(name="meters")
def meters(
    plan: list[Planned],
    reports: list[FileReport],
    full_refresh: bool = False,
    on_file: Callable[[FileReport], None] | None = None,
) -> Any:
    """Exnaton meter readings, one row per (meter, OBIS code, interval start)."""
    return vendor_resource("meter_files", "meters", plan, reports, full_refresh, on_file)
