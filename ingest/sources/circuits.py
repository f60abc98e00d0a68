"""Circuit sensors (seed 002): metadata as SQL INSERTs (init.sql) and per-minute power JSON.

init.sql:  INSERT INTO brands (id,name) VALUES ('…','DemoBrand'); … organizations, locations,
           electric_sensors, circuits (circuits have no id: key (sensor_id, circuit_number)).
power:     [{"duid": "6D12E310B371FCB1", "circuit_number": 1, "timestamp": "2024-04-01T00:00:00Z",
             "power_watts": 353588}, …]
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ingest.documents import (
    CIRCUIT_METADATA,
    CIRCUIT_POWER,
    Document,
    expect_kind,
    find_files,
    flaw_field,
    head_of,
    looks_like,
    parse_json,
    require_dir,
    unstorable,
    without_bom,
)
from ingest.errors import GridhouseError
from ingest.quarantine import Flawed, Rejects
from ingest.remote import UrlInput, is_url, listing
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
    vendor_source,
)
from ingest.sources.ranges import ANY_SIGN, TimeWindow, future_tolerance


def _text_table(name: str, columns: list[str], key: tuple[str, ...], ints: tuple[str, ...] = ()) -> TableSpec:
    fields = [
        pa.field(c, pa.int64() if c in ints else pa.string(), nullable=c not in key and c != "name")
        for c in columns
    ]
    return TableSpec(name, pa.schema(fields), key, "delete-insert")


METADATA = {
    spec.name: spec
    for spec in (
        _text_table("brands", ["id", "name"], ("id",)),
        _text_table("organizations", ["id", "brand_id", "name"], ("id",)),
        _text_table("locations", ["id", "organization_id", "name"], ("id",)),
        _text_table("electric_sensors", ["id", "duid", "name", "location_id"], ("id",)),
        _text_table(
            "circuits",
            ["sensor_id", "name", "circuit_number"],
            ("sensor_id", "circuit_number"),
            ("circuit_number",),
        ),
    )
}
POWER = TableSpec(
    "power",
    pa.schema(
        [
            pa.field("duid", pa.string(), nullable=False),
            pa.field("circuit_number", pa.int64(), nullable=False),
            pa.field("timestamp_iso", pa.string(), nullable=False),  # as published
            pa.field("measured_at", INSTANT_TYPE, nullable=False),  # the instant timestamp_iso names
            pa.field("power_watts", pa.float64(), nullable=False),
        ]
    ),
    ("duid", "circuit_number", "measured_at"),
    "append-new",
    series=("duid", "circuit_number"),
    time="measured_at",
    values=("power_watts",),
)

INSERT = re.compile(
    r"^insert\s+into\s+(?:\w+\.)?\"?(?P<table>\w+)\"?\s*\((?P<columns>[^)]*)\)\s*values\s*(?P<values>.*)$",
    re.IGNORECASE | re.DOTALL,
)
NON_DATA = re.compile(r"^(begin|commit|create\s+extension|set\s|--)", re.IGNORECASE)
TOKEN = re.compile(
    r"\s*(?:'(?P<string>(?:[^']|'')*)'|(?P<number>-?\d+(?:\.\d+)?)|(?P<null>null)|(?P<sep>[,()]))",
    re.IGNORECASE,
)


def split_statements(text: str) -> Iterator[tuple[int, str]]:
    """(line number, statement) for each `;`-terminated statement, respecting quoted strings."""
    start, in_string, line, start_line = 0, False, 1, 1
    for i, ch in enumerate(text):
        if ch == "'":
            in_string = not in_string
        elif ch == "\n":
            line += 1
        elif ch == ";" and not in_string:
            yield start_line, text[start:i]
            start, start_line = i + 1, line
    if text[start:].strip():
        yield start_line, text[start:]


def parse_tuples(values: str) -> list[list[str | int | None]] | None:
    """`('a',1),('b',2)` as rows; None when the text is not a list of literal tuples."""
    rows: list[list[str | int | None]] = []
    row: list[str | int | None] | None = None
    pos, expect_value = 0, False
    values = values.strip()
    while pos < len(values):
        match = TOKEN.match(values, pos)
        if not match:
            return None
        pos = match.end()
        if match["sep"] == "(" and row is None:
            row, expect_value = [], True
        elif match["sep"] == ")" and row is not None:
            rows.append(row)
            row = None
        elif match["sep"] == "," and row is not None:
            expect_value = True
        elif match["sep"] == "," and row is None:
            continue
        elif row is not None and expect_value:
            if match["string"] is not None:
                row.append(match["string"].replace("''", "'"))
            elif match["number"] is not None:
                row.append(int(match["number"]) if "." not in match["number"] else match["number"])
            else:
                row.append(None)
            expect_value = False
        else:
            return None
    return rows if row is None and rows else None


def parse_metadata(
    doc: Document, rejects: Rejects, loaded_at: datetime, seen: dict[str, FirstSeen] | None = None
) -> Parsed:
    """One record per row of an INSERT (a statement that is not one: one record). A statement holding
    bytes that are not UTF-8 or a NUL is quarantined whole, the others are read; `seen` (per table) makes
    a key read again in this load a quarantined duplicate."""
    seen = {} if seen is None else seen
    parsed = Parsed()
    text = without_bom(doc.content).decode("utf-8", errors="surrogateescape")  # every byte kept
    columns: dict[str, dict[str, list[Any]]] = {
        name: {c: [] for c in spec.schema.names} for name, spec in METADATA.items()
    }
    for line, statement in split_statements(text):
        body = statement.strip()
        if not body or NON_DATA.match(body):
            continue
        parsed.read += 1
        position = f"line {line + statement[: len(statement) - len(statement.lstrip())].count(chr(10))}"
        if (why := unstorable(body)) is not None:
            rejects.add(position, None, why, body)
            continue
        match = INSERT.match(body)
        if not match:
            rejects.add(position, None, "not an INSERT INTO <table> (<columns>) VALUES (...) statement", body)
            continue
        table = match["table"].lower()
        spec = METADATA.get(table)
        if spec is None:
            rejects.add(position, "table", f"unknown table {table!r} (known: {', '.join(METADATA)})", body)
            continue
        names = [c.strip().strip('"').lower() for c in match["columns"].split(",")]
        rows = parse_tuples(match["values"])
        problem = _metadata_problem(spec, names, rows)
        if problem is not None:
            rejects.add(position, *problem, body)
            continue
        assert rows is not None
        parsed.read += len(rows) - 1
        keys = seen.setdefault(table, FirstSeen())
        for k, row in enumerate(rows):
            record = dict(zip(names, row, strict=True))
            key = tuple(record[c] for c in spec.primary_key)
            if (first := keys.first(key, doc.name)) is not None:
                shown = key[0] if len(key) == 1 else key
                reason = keys.duplicate(f"{table} key {'/'.join(spec.primary_key)}", shown, first, doc.name)
                rejects.add(
                    position if len(rows) == 1 else f"{position} row {k + 1}",
                    spec.primary_key[0],
                    reason,
                    body,
                )
                continue
            for c in spec.schema.names:
                columns[table][c].append(record.get(c))
            parsed.loaded += 1
    for name, spec in METADATA.items():
        parsed.tables.append(Rows(spec, spec.table(columns[name], doc.name, loaded_at)))
    return parsed


def _metadata_problem(
    spec: TableSpec, names: list[str], rows: list[list[str | int | None]] | None
) -> tuple[str, str] | None:
    if rows is None:
        return "values", "VALUES is not a list of literal tuples"
    unknown = [n for n in names if n not in spec.schema.names]
    if unknown:
        return unknown[0], f"unknown column {unknown[0]!r} for {spec.name}"
    missing = [c for c in spec.primary_key if c not in names]
    if missing:
        return missing[0], f"missing key column {missing[0]!r} for {spec.name}"
    for row in rows:
        if len(row) != len(names):
            return "values", f"{len(row)} values for {len(names)} columns"
        record = dict(zip(names, row, strict=True))
        for c in spec.schema.names:
            value = record.get(c)
            want_int = spec.schema.field(c).type == pa.int64()
            if c in spec.primary_key and value is None:
                return c, f"{c} is NULL"
            if value is not None and want_int != isinstance(value, int):
                return c, f"{c} must be {'an integer' if want_int else 'a string'}, got {describe(value)}"
    return None


def parse_power(doc: Document, rejects: Rejects, loaded_at: datetime, run_keys: RunKeys) -> Parsed:
    """Power samples; a time or value outside its plausible range is quarantined. A negative power is
    legitimate (a circuit feeding solar power back), so only finite values of bounded magnitude are
    asked for (ingest/sources/ranges.py)."""
    window = TimeWindow.at(loaded_at)
    latest_us, low_w, high_w = window.latest_us, ANY_SIGN.lo, ANY_SIGN.hi
    body = parse_json(doc, rejects)
    parsed = Parsed()
    records = body.get("data") if isinstance(body, dict) else body
    if body is not None and not isinstance(records, list):
        rejects.add("$", None, "wrong top-level shape: expected a list of power samples", doc.content)
    if not isinstance(records, list):
        parsed.read = 1
        return parsed
    top: tuple[str, ...] = ("data",) if isinstance(body, dict) else ()  # the records' path in the file
    columns: dict[str, list[Any]] = {name: [] for name in POWER.schema.names}
    instants: list[int] = []  # epoch microseconds
    for i, record in enumerate(records):
        problem = _power_problem(record)
        instant = iso_epoch_us(record["timestamp"]) if problem is None else 0
        if problem is None and not 0 <= instant <= latest_us:  # compared inline: one record is a few µs
            problem = ("timestamp", window.problem_us(instant, record["timestamp"]) or "")
        if problem is None and not low_w <= record["power_watts"] <= high_w:
            problem = ("power_watts", ANY_SIGN.problem("power_watts", record["power_watts"]) or "")
        if problem is None and not run_keys.first_time(record["duid"], record["circuit_number"], instant):
            problem = (
                "timestamp",
                "duplicate sample: same sensor, circuit and time as one read before "
                "in this load (the first one is kept)",
            )
        if problem is not None:
            rejects.add(f"[{i}]", *problem, record, (*top, i))
            continue
        columns["duid"].append(record["duid"])
        columns["circuit_number"].append(record["circuit_number"])
        columns["timestamp_iso"].append(record["timestamp"])
        instants.append(instant)
        columns["power_watts"].append(float(record["power_watts"]))
    parsed.read = len(records)
    parsed.loaded = len(columns["duid"])
    columns["measured_at"] = np.array(instants, np.int64)
    times_ms = columns["measured_at"] // 1000
    parsed.tables.append(Rows(POWER, POWER.table(columns, doc.name, loaded_at), times_ms))
    return parsed


def _power_problem(record: object) -> tuple[str | None, str] | None:
    if isinstance(record, Flawed):
        return flaw_field(record), record.problem
    if not isinstance(record, dict):
        return "$", "sample is not an object"
    for key in ("duid", "circuit_number", "timestamp", "power_watts"):
        if key not in record:
            return key, f"missing key {key!r}"
    if not isinstance(record["duid"], str) or not record["duid"]:
        return "duid", f"duid must be a non-empty string, got {describe(record['duid'])}"
    if type(record["circuit_number"]) is not int:
        return (
            "circuit_number",
            f"circuit_number must be an integer, got {describe(record['circuit_number'])}",
        )
    if (why := iso_problem(record["timestamp"])) is not None:
        return "timestamp", why
    if not is_number(record["power_watts"]):
        return "power_watts", f"non-numeric value {describe(record['power_watts'])}"
    return None


def plan(path: Path | str) -> list[Planned]:
    """Metadata (*.sql) first, then power samples (*.json), under `path` or from the API."""
    future_tolerance()  # a tolerance that is not a number stops the command here, before anything is read
    run_keys = RunKeys()
    seen: dict[str, FirstSeen] = {}

    def metadata(doc: Document, rejects: Rejects, loaded_at: datetime) -> Parsed:
        return parse_metadata(doc, rejects, loaded_at, seen)

    def power(doc: Document, rejects: Rejects, loaded_at: datetime) -> Parsed:
        return parse_power(doc, rejects, loaded_at, run_keys)

    if is_url(path):
        base = str(path).rstrip("/") + "/circuits"
        files = [Planned(UrlInput(f"{base}/init.sql", f"{base}/init.sql"), metadata, CIRCUIT_METADATA)]
        names = listing(f"{base}/power")
        return files + [
            Planned(UrlInput(f"{base}/power/{n}", f"{base}/power/{n}"), power, CIRCUIT_POWER) for n in names
        ]
    root = require_dir(Path(path), "circuits", "init.sql and the power *.json files")
    if root.is_file():  # one file: what it must hold by its name, else by its content
        kind = {".sql": CIRCUIT_METADATA, ".json": CIRCUIT_POWER}.get(root.suffix.lower())
        if kind is None:
            kind = CIRCUIT_METADATA if looks_like(head_of(root), CIRCUIT_METADATA) else CIRCUIT_POWER
        expect_kind(root, "circuits", kind)
        parse = metadata if kind == CIRCUIT_METADATA else power
        return [Planned(f, parse, kind) for f in find_files(root, "*", "circuits")]
    files = [Planned(f, metadata, CIRCUIT_METADATA) for f in find_files(root, "*.sql", root.name)]
    files += [Planned(f, power, CIRCUIT_POWER) for f in find_files(root, "*.json", root.name)]
    if not files:
        raise GridhouseError(
            f"circuits: {root} has no *.sql or *.json files; point it at init.sql and power JSON"
        )
    return files


circuits = vendor_source(
    "circuits",
    "circuit_files",
    "Circuit metadata (brand > organization > location > sensor > circuit) and power samples.",
)
