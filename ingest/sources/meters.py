"""Smart meters (seeds 000/001, Exnaton): `{"data": [...]}` files, or a bare list (the power endpoint).

A record: {"measurement": "energy", "timestamp": "2023-02-28T23:45:00.000Z",
           "tags": {"muid": "...", "quality": "measured"}, "0100011D00FF": 0.0117}
Every 12-hex-digit key is an OBIS code with its value; one raw row per (record, OBIS key).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ingest.documents import (
    METER_READINGS,
    TENANT_MAP,
    Document,
    expect_kind,
    find_files,
    flaw_field,
    parse_json,
    require_dir,
    unstorable,
    without_bom,
)
from ingest.errors import GridhouseError
from ingest.quarantine import Flawed, Rejects
from ingest.remote import BytesInput, UrlInput, get, is_url, listing
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
from ingest.sources.ranges import Range, TimeWindow, future_tolerance, meter_range

OBIS_KEY = re.compile(r"^[0-9A-Fa-f]{12}$")

READINGS = TableSpec(
    "readings",
    pa.schema(
        [
            pa.field("muid", pa.string(), nullable=False),
            pa.field("obis_code", pa.string(), nullable=False),
            pa.field("timestamp_iso", pa.string(), nullable=False),  # as published
            pa.field("measured_at", INSTANT_TYPE, nullable=False),  # the instant timestamp_iso names
            pa.field("value", pa.float64(), nullable=False),
            pa.field("measurement", pa.string()),
            pa.field("quality", pa.string()),
        ]
    ),
    ("muid", "obis_code", "measured_at"),
    "append-new",
    series=("muid", "obis_code"),
    time="measured_at",
    values=("value", "measurement", "quality"),
)

TENANTS = TableSpec(
    "tenants",
    pa.schema(
        [
            pa.field("muid", pa.string(), nullable=False),
            pa.field("tenant_id", pa.string(), nullable=False),
        ]
    ),
    ("muid",),
    "delete-insert",
)
TENANTS_FILE = "tenants.csv"


def parse_tenants(
    doc: Document, rejects: Rejects, loaded_at: datetime, tenant: str | None, seen: FirstSeen | None = None
) -> Parsed:
    """`tenants.csv` (muid,tenant): which tenant each meter belongs to (docs/meters.md, "Tenants").
    With GRIDHOUSE_TENANT set, only that tenant's meters are kept; the others are not read. A meter
    listed twice is a duplicate (the first line kept); a line PostgreSQL cannot store is quarantined."""
    seen = FirstSeen() if seen is None else seen
    parsed = Parsed()
    columns: dict[str, list[Any]] = {"muid": [], "tenant_id": []}
    lines = _tenant_rows(doc)
    if lines is None:
        parsed.read = 1
        rejects.add("line 1", None, "tenants.csv needs a header with muid and tenant columns", doc.content)
        return parsed
    for number, muid, owner, line in lines:
        if muid is None:
            continue
        why = unstorable(line)
        # the first line of a meter decides its tenant (as owners_in() reads it), whichever tenant loads
        first = seen.first(muid, doc.name) if why is None and muid and owner else None
        if tenant is not None and owner != tenant:
            continue
        parsed.read += 1
        if why is not None:
            rejects.add(f"line {number}", None, why, line)
        elif not muid or not owner:
            rejects.add(f"line {number}", "muid" if not muid else "tenant", "empty muid or tenant", line)
        elif first is not None:
            rejects.add(f"line {number}", "muid", seen.duplicate("muid", muid, first, doc.name), line)
        else:
            columns["muid"].append(muid)
            columns["tenant_id"].append(owner)
    parsed.loaded = len(columns["muid"])
    parsed.tables.append(Rows(TENANTS, TENANTS.table(columns, doc.name, loaded_at)))
    return parsed


def _tenant_rows(doc: Document) -> list[tuple[int, str | None, str, str]] | None:
    """(line number, muid, tenant, raw line) per data line of a tenants.csv, muid None for a blank
    line; None when the header lacks the muid and tenant columns. Bytes that are not UTF-8 are kept
    (surrogateescape) for the quarantine."""
    lines = without_bom(doc.content).decode("utf-8", errors="surrogateescape").split("\n")
    lines = [line.removesuffix("\r") for line in lines]
    header = [h.strip().lower() for h in lines[0].split(",")]
    tenant_column = "tenant" if "tenant" in header else "tenant_id"
    if "muid" not in header or tenant_column not in header:
        return None
    m, k = header.index("muid"), header.index(tenant_column)
    out: list[tuple[int, str | None, str, str]] = []
    for number, line in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in line.split(",")]
        if not line.strip():
            out.append((number, None, "", line))
        else:
            out.append((number, cells[m] if m < len(cells) else "", cells[k] if k < len(cells) else "", line))
    return out


def tenant_owners(root: Path) -> dict[str, str]:
    """muid -> tenant from root/tenants.csv (empty without one)."""
    path = root / TENANTS_FILE if root.is_dir() else None
    if path is None or not path.is_file():
        return {}
    return owners_in(Document(TENANTS_FILE, path.read_bytes()))


def owners_in(doc: Document) -> dict[str, str]:
    """muid -> tenant from a tenants.csv document (the first line of a meter listed twice)."""
    owners: dict[str, str] = {}
    for _, muid, owner, line in _tenant_rows(doc) or []:
        if muid and owner and unstorable(line) is None:
            owners.setdefault(muid, owner)
    return owners


def remote_tenants(base: str) -> BytesInput | None:
    """`tenants.csv` beside the API's meter files (GET <base>/meters/tenants.csv), or None when the API
    has none (HTTP 404). Fetched within the REST limits (ingest/remote.py). Any other failure stops the
    load: without the map, another tenant's meters would be taken in."""
    url = f"{base}/meters/{TENANTS_FILE}"
    try:
        body = get(url, missing_ok=True)
    except GridhouseError as exc:
        raise GridhouseError(f"{exc}; the meters are not loaded without their tenant map") from None
    return None if body is None else BytesInput(url, body)


def parse_readings(
    doc: Document,
    rejects: Rejects,
    loaded_at: datetime,
    run_keys: RunKeys,
    foreign: Callable[[str], bool] | None = None,
) -> Parsed:
    """foreign(muid) is true for a meter of another tenant (GRIDHOUSE_TENANT with a tenants.csv): its
    records are not read at all, so nothing of another tenant reaches this database, not even quarantine.
    A time or value outside its plausible range (ingest/sources/ranges.py) is quarantined: import and
    export are never negative, net values keep their sign."""
    window = TimeWindow.at(loaded_at)
    ranges: dict[str, Range] = {}  # per OBIS key as written
    body = parse_json(doc, rejects)
    parsed = Parsed()
    records = body.get("data") if isinstance(body, dict) else body
    if body is not None and not isinstance(records, list):
        rejects.add(
            "$", "data", 'wrong top-level shape: expected {"data": [...]} or a list of readings', doc.content
        )
    if not isinstance(records, list):
        parsed.read = 1
        return parsed
    top: tuple[str, ...] = ("data",) if isinstance(body, dict) else ()  # the records' path in the file
    columns: dict[str, list[Any]] = {name: [] for name in READINGS.schema.names}
    instants: list[int] = []  # epoch microseconds
    read = 0
    for i, record in enumerate(records):
        keys = [k for k in record if OBIS_KEY.match(k)] if isinstance(record, dict) else []
        if not keys:
            read += 1
            if isinstance(record, Flawed):
                rejects.add(f"data[{i}]", flaw_field(record), record.problem, record)
            else:
                rejects.add(
                    f"data[{i}]",
                    "obis",
                    "reading without an OBIS value key (12 hex digits)",
                    record,
                    (*top, i),
                )
            continue
        tags = record.get("tags")
        muid = tags.get("muid") if isinstance(tags, dict) else None
        if foreign is not None and isinstance(muid, str) and muid and foreign(muid):
            continue
        read += len(keys)
        problem: tuple[str | None, str] | None = None
        if isinstance(record, Flawed):
            problem = (flaw_field(record), record.problem)
        elif muid is not None and not isinstance(muid, str):  # whose meter it is cannot be told
            problem = ("tags.muid", f"tags.muid must be a string, got {describe(muid)}")
        elif not isinstance(muid, str) or not muid:
            problem = ("tags.muid", "missing or empty tags.muid")
        elif (why := iso_problem(record.get("timestamp"))) is not None:
            problem = ("timestamp", why)
        elif (
            bad := text_problem(record, "measurement") or text_problem(tags, "quality", "tags.quality")
        ) is not None:
            problem = bad
        instant = iso_epoch_us(record["timestamp"]) if problem is None else 0
        if problem is None and (why := window.problem_us(instant, record["timestamp"])) is not None:
            problem = ("timestamp", why)
        for key in keys:
            position = f"data[{i}].{key}"
            value = record[key]
            if problem is not None:
                rejects.add(position, problem[0], problem[1], record, (*top, i))
            elif not is_number(value):
                rejects.add(position, key, f"non-numeric value {describe(value)}", record, (*top, i))
            elif why := (ranges.get(key) or ranges.setdefault(key, meter_range(key))).problem(key, value):
                rejects.add(position, key, why, record, (*top, i))
            elif not run_keys.first_time(muid, key.upper(), instant):
                rejects.add(
                    position,
                    key,
                    "duplicate reading: same meter, OBIS code and time "
                    "as one read before in this load (the first one is kept)",
                    record,
                    (*top, i),
                )
            else:
                columns["muid"].append(muid)
                columns["obis_code"].append(key.upper())
                columns["timestamp_iso"].append(record["timestamp"])
                instants.append(instant)
                columns["value"].append(float(value))
                columns["measurement"].append(_text(record.get("measurement")))
                columns["quality"].append(_text(tags.get("quality")))
    parsed.read = read
    parsed.loaded = len(columns["value"])
    columns["measured_at"] = np.array(instants, np.int64)
    times_ms = columns["measured_at"] // 1000
    parsed.tables.append(Rows(READINGS, READINGS.table(columns, doc.name, loaded_at), times_ms))
    return parsed


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def plan(path: Path | str) -> list[Planned]:
    """Every *.json file under `path` (or the one file `path`), or every file the API lists."""
    future_tolerance()  # a tolerance that is not a number stops the command here, before anything is read
    run_keys = RunKeys()
    tenant = os.environ.get("GRIDHOUSE_TENANT") or None
    base = str(path).rstrip("/") if is_url(path) else ""
    if base:  # the API serves tenants.csv beside the meter files, as a folder holds it
        remote_map = remote_tenants(base)
        owners = owners_in(remote_map.read()) if remote_map is not None else {}
    else:
        remote_map, owners = None, tenant_owners(Path(path))
    foreign = None
    if tenant is not None and owners:

        def foreign(muid: str) -> bool:
            return owners.get(muid) != tenant

    def parse(doc: Document, rejects: Rejects, loaded_at: datetime) -> Parsed:
        return parse_readings(doc, rejects, loaded_at, run_keys, foreign)

    seen = FirstSeen()

    def tenants(doc: Document, rejects: Rejects, loaded_at: datetime) -> Parsed:
        return parse_tenants(doc, rejects, loaded_at, tenant, seen)

    if base:  # as from a folder: the meter files, then the tenant map when it maps any meter
        files = [
            Planned(UrlInput(f"{base}/meters/{n}", f"{base}/meters/{n}"), parse, METER_READINGS)
            for n in listing(f"{base}/meters")
        ]
        if remote_map is not None and owners:
            files.append(Planned(remote_map, tenants, TENANT_MAP))
        return files
    root = require_dir(Path(path), "meters", "Exnaton *.json files")
    if root.is_file():
        expect_kind(root, "meters", METER_READINGS)
    label = root.name if root.is_dir() else "meters"
    files = [Planned(f, parse, METER_READINGS) for f in find_files(root, "*.json", label)]
    if owners:
        files += [Planned(f, tenants, TENANT_MAP) for f in find_files(root / TENANTS_FILE, "*", root.name)]
    if not files:
        raise GridhouseError(f"meters: {root} has no *.json files; point it at a folder of Exnaton files")
    return files


meters = vendor_source(
    "meters",
    "meter_files",
    "Exnaton meter readings, one row per (meter, OBIS code, interval start), and the tenant map.",
)
