"""Battery vendor (seed 004): `assets/assets.json` and `telemetry/<deviceId>.json`.

assets:    {"totalCount": n, "items": [{"deviceId", "description", "state"}]}
telemetry: {"series": [{"name": "BatteryExportKwh", "data": [[epoch_ms, value], ...]}, ...]}
Telemetry is stored long: one row per (device_id, series_name, epoch_ms).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ingest.db import PROJECT_ROOT
from ingest.documents import (
    BATTERY_ASSETS,
    BATTERY_TELEMETRY,
    Document,
    find_files,
    flaw_field,
    loads,
    parse_json,
    require_dir,
    without_bom,
)
from ingest.errors import GridhouseError
from ingest.quarantine import Flawed, Rejects
from ingest.remote import UrlInput, asset_pages, is_url
from ingest.sources.base import (
    FirstSeen,
    Parsed,
    Planned,
    Rows,
    TableSpec,
    describe,
    is_number,
    repeated,
    text_problem,
    vendor_source,
)
from ingest.sources.marks import SeriesCodes, series_name
from ingest.sources.ranges import MAX_MAGNITUDE, Range, TimeWindow, battery_range, future_tolerance
from ingest.streaming import CHUNK_BYTES, NotStreamable, StreamedTelemetry, columns, open_telemetry

# The unit lives only in the series name: <Quantity><Suffix>[-<meter point>]. The suffix table is the
# dbt seed series_units.csv (a dbt test keeps the SQL decoder equal to it): one table for both.
SERIES_UNITS_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "series_units.csv"
with SERIES_UNITS_SEED.open(encoding="utf-8", newline="") as _seed:
    UNIT_BY_SUFFIX = {row["suffix"]: row["unit"] for row in csv.DictReader(_seed)}
_SUFFIXES = "|".join(sorted(UNIT_BY_SUFFIX, key=len, reverse=True))
SERIES_NAME = re.compile(rf"^(?P<quantity>[A-Za-z]+?)(?P<suffix>{_SUFFIXES})(?:-(?P<meter_point>\w+))?$")

ASSETS = TableSpec(
    "assets",
    pa.schema(
        [
            pa.field("device_id", pa.string(), nullable=False),
            pa.field("description", pa.string()),
            pa.field("state", pa.string()),
        ]
    ),
    ("device_id",),
    "delete-insert",
)
TELEMETRY = TableSpec(
    "telemetry",
    pa.schema(
        [
            pa.field("device_id", pa.string(), nullable=False),
            pa.field("series_name", pa.string(), nullable=False),
            pa.field("epoch_ms", pa.int64(), nullable=False),
            pa.field("value", pa.float64(), nullable=False),
        ]
    ),
    ("device_id", "series_name", "epoch_ms"),
    "append-new",
    series=("device_id", "series_name"),
    time="epoch_ms",
    values=("value",),
)


def unit_of(series_name: str) -> str | None:
    """The unit of a series from its name's suffix, or None when the suffix is unknown."""
    match = SERIES_NAME.match(series_name)
    return UNIT_BY_SUFFIX[match["suffix"]] if match else None


def parse_assets(
    doc: Document, rejects: Rejects, loaded_at: datetime, seen: FirstSeen | None = None
) -> Parsed:
    """`seen`: the devices read before in this load (other pages or files): one read again is a
    duplicate, quarantined, so the table holds every asset the report counts as loaded."""
    seen = FirstSeen() if seen is None else seen
    body = parse_json(doc, rejects)
    parsed = Parsed()
    if body is None:
        parsed.read = 1
        return parsed
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        rejects.add(
            "$", "items", 'wrong top-level shape: expected {"totalCount": n, "items": [...]}', doc.content
        )
        parsed.read = 1
        return parsed
    columns: dict[str, list[Any]] = {"device_id": [], "description": [], "state": []}
    for i, item in enumerate(items):
        if isinstance(item, Flawed):
            rejects.add(f"items[{i}]", flaw_field(item), item.problem, item)
            continue
        device_id = item.get("deviceId") if isinstance(item, dict) else None
        if not isinstance(device_id, str) or not device_id:
            rejects.add(f"items[{i}]", "deviceId", "missing or empty deviceId", item, ("items", i))
            continue
        if (problem := text_problem(item, "description") or text_problem(item, "state")) is not None:
            rejects.add(f"items[{i}]", *problem, item, ("items", i))
            continue
        if (first := seen.first(device_id, doc.name)) is not None:
            rejects.add(
                f"items[{i}]",
                "deviceId",
                seen.duplicate("deviceId", device_id, first, doc.name),
                item,
                ("items", i),
            )
            continue
        columns["device_id"].append(device_id)
        columns["description"].append(_text_or_none(item.get("description")))
        columns["state"].append(_text_or_none(item.get("state")))
    parsed.read = len(items)
    parsed.loaded = len(columns["device_id"])
    parsed.tables.append(Rows(ASSETS, ASSETS.table(columns, doc.name, loaded_at)))
    return parsed


STREAM_BYTES = 32 << 20  # telemetry files from this size are read as a stream (bounded memory)
STREAM_PIECE_BYTES = CHUNK_BYTES  # JSON per piece of points when streamed


def parse_telemetry(doc: Document, rejects: Rejects, loaded_at: datetime) -> Parsed:
    """Every point whose value and time are plausible (ingest/sources/ranges.py) loads; each other point
    is quarantined with its reason. A big file is read as a stream, a piece of points at a time
    (ingest/streaming.py), with the same rows and rejects as when it is parsed whole."""
    if doc.path is not None and doc.size >= STREAM_BYTES:
        try:
            stream = open_telemetry(doc.path, chunk_bytes=STREAM_PIECE_BYTES)
        except NotStreamable:
            pass  # invalid JSON somewhere, a key twice, ...: the whole parse and its tolerant pass
        else:
            parsed = Parsed()
            parsed.tables = _streamed_tables(stream, doc, rejects, loaded_at, parsed)
            return parsed
    points = _Points(TimeWindow.at(loaded_at), rejects)
    body = parse_json(doc, rejects)
    parsed = Parsed()
    series_list = _series_list(body, doc, rejects)
    if series_list is None:
        parsed.read = 1
        return parsed
    segments: list[tuple[str, np.ndarray, np.ndarray]] = []  # (name, epochs, values) per series
    for s, series in enumerate(series_list):
        name, data = _name_and_data(s, series, rejects)
        if name is None:
            parsed.read += 1
            continue
        parsed.read += len(data)
        taken = points.take(s, name, 0, data)
        if taken is not None:
            segments.append((name, *taken))
    table, times, series_codes = _telemetry_table(segments, doc, loaded_at)
    parsed.loaded = table.num_rows
    parsed.tables.append(Rows(TELEMETRY, table, times, series_codes))
    return parsed


def _streamed_tables(
    stream: StreamedTelemetry, doc: Document, rejects: Rejects, loaded_at: datetime, parsed: Parsed
) -> Iterator[Rows]:
    """The rows of a streamed document, one table per piece of points; counts into `parsed` as it goes."""
    points = _Points(TimeWindow.at(loaded_at), rejects)
    with stream:
        series_list = _series_list(stream.skeleton, doc, rejects)
        if series_list is None:
            parsed.read = 1
            return
        for s, series in enumerate(series_list):
            name, data = _name_and_data(s, series, rejects)
            if name is None:
                parsed.read += 1
                continue
            pieces = stream.chunks(s) if stream.count(s) is not None else iter([(0, data)])
            for first, piece in pieces:
                parsed.read += len(piece)
                taken = points.take(s, name, first, piece)
                if taken is not None and taken[0].size:
                    table, times, series_codes = _telemetry_table([(name, *taken)], doc, loaded_at)
                    parsed.loaded += table.num_rows
                    yield Rows(TELEMETRY, table, times, series_codes)
        if paths := rejects.unlocated():  # their bytes, from their pieces
            rejects.locate(stream.locate(paths))


def _series_list(body: object, doc: Document, rejects: Rejects) -> list[Any] | None:
    """The document's series, or None after quarantining it whole (not {"series": [...]})."""
    series_list = body.get("series") if isinstance(body, dict) else None
    if body is not None and not isinstance(series_list, list):
        rejects.add("$", "series", 'wrong top-level shape: expected {"series": [...]}', doc.content)
    return series_list if isinstance(series_list, list) else None


def _name_and_data(s: int, series: object, rejects: Rejects) -> tuple[str, list[Any]] | tuple[None, None]:
    """A series' name and points; (None, None) after quarantining it as one record when it has none."""
    if isinstance(series, Flawed) and (series.own or not isinstance(series, dict)):
        # a key twice (which name, which data?) or not JSON: the series is one record
        rejects.add(f"series[{s}]", flaw_field(series), series.problem, series)
        return None, None
    name = series.get("name") if isinstance(series, dict) else None
    data = series.get("data") if isinstance(series, dict) else None
    if not isinstance(name, str) or not isinstance(data, list):
        field = "name" if not isinstance(name, str) else "data"
        flaw = name if isinstance(name, Flawed) else data if isinstance(data, Flawed) else None
        reason = flaw.problem if flaw else "series without a name or without a data list"
        rejects.add(f"series[{s}]", field, reason, series, ("series", s))
        return None, None
    return name, data


class _Points:
    """Checks a document's points, a series (or a piece of one) at a time: a point loads when it is a
    valid [epoch_ms, number] with a plausible time and value and its series name has no point at that
    time earlier in the document (a repeated time is quarantined, the first one kept)."""

    def __init__(self, window: TimeWindow, rejects: Rejects) -> None:
        self.window, self.rejects = window, rejects
        self.clean: dict[str, list[np.ndarray]] = {}  # per name, the epochs taken by the bulk check
        self.latest: dict[str, int] = {}  # per name, the latest of those epochs
        self.checked: dict[str, set[int]] = {}  # per name checked point by point, every epoch taken

    def take(self, s: int, name: str, first: int, data: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
        """(epochs, values) of the points of series `s` (named `name`) that load; `first` is the index of
        data[0] in the series. None when the name's unit is unknown (every point quarantined)."""
        unit = unit_of(name)
        if unit is None:
            reason = f"unknown unit suffix in series name {name!r} (known: {', '.join(UNIT_BY_SUFFIX)})"
            for p, point in enumerate(data, first):
                self.rejects.add(f"series[{s}].data[{p}]", "name", reason, point, ("series", s, "data", p))
            return None
        plausible = battery_range(unit)
        if name not in self.checked and not isinstance(data, Flawed):
            clean = _clean_series(data, plausible, self.window) if data else None
            if clean is not None and not self._seen_before(name, clean[0]):
                self.clean.setdefault(name, []).append(clean[0])  # the common case, checked in bulk
                self.latest[name] = max(self.latest.get(name, -1), int(clean[0].max()))
                return clean
        return self._point_by_point(s, name, first, data, plausible)

    def _seen_before(self, name: str, epochs: np.ndarray) -> bool:
        earlier = self.clean.get(name)
        if earlier is None or int(epochs.min()) > self.latest[name]:
            return False  # the usual order: a piece that starts after the last one ended
        return bool(np.isin(epochs, np.concatenate(earlier)).any())

    def _point_by_point(
        self, s: int, name: str, first: int, data: list[Any], plausible: Range
    ) -> tuple[np.ndarray, np.ndarray]:
        seen = self.checked.get(name)
        if seen is None:  # the name's earlier points count as seen
            earlier = self.clean.pop(name, [])
            seen = self.checked[name] = set(np.concatenate(earlier).tolist()) if earlier else set()
        epochs: list[int] = []
        values: list[float] = []
        for p, point in enumerate(data, first):
            problem = _point_problem(point, name, plausible, self.window)
            if problem is None and int(point[0]) in seen:
                problem = (
                    "epoch_ms",
                    "duplicate point: same series and time as an earlier point in this file "
                    "(the first one is kept)",
                )
            if problem is not None:
                self.rejects.add(f"series[{s}].data[{p}]", *problem, point, ("series", s, "data", p))
                continue
            seen.add(int(point[0]))
            epochs.append(int(point[0]))
            values.append(float(point[1]))
        return np.array(epochs, np.int64), np.array(values, np.float64)


def _telemetry_table(
    segments: list[tuple[str, np.ndarray, np.ndarray]], doc: Document, loaded_at: datetime
) -> tuple[pa.Table, np.ndarray, SeriesCodes]:
    """The telemetry rows of one document, in input order, built from columns (no list per row),
    with their times and series codes for the marks."""
    code_of: dict[str, int] = {}
    codes = [code_of.setdefault(name, len(code_of)) for name, _, _ in segments]
    counts = [len(epochs) for _, epochs, _ in segments]
    n = sum(counts)
    epochs = np.concatenate([e for _, e, _ in segments]) if segments else np.empty(0, np.int64)
    values = np.concatenate([v for _, _, v in segments]) if segments else np.empty(0, np.float64)
    row_codes = np.repeat(np.array(codes, np.int64), counts)
    series_names = pa.DictionaryArray.from_arrays(
        pa.array(row_codes.astype(np.int32), pa.int32()), pa.array(list(code_of), pa.string()), safe=False
    )
    columns = {  # the strings as dictionaries: each distinct value stored, written and encoded once
        "device_id": repeated(doc.stem, n),
        "series_name": series_names,
        "epoch_ms": epochs,
        "value": values,
    }
    series = (row_codes, [series_name(doc.stem, name) for name in code_of])
    return TELEMETRY.table(columns, doc.name, loaded_at), epochs, series


def _clean_series(
    data: list[object], plausible: Range, window: TimeWindow
) -> tuple[np.ndarray, np.ndarray] | None:
    """(epochs, values) when every point is a valid, distinct [epoch_ms, number] with a plausible time
    and value; else None (check each point, and quarantine those that are not).

    Only type checks run per point in Python; the rest is numpy on the columns.
    """
    typed = columns(data) if data else None  # the type checks, shared with the streaming reader
    if typed is None:
        return None
    epochs, values = typed
    if epochs.min() < 0 or epochs.max() > window.latest_ms:
        return None
    magnitude = np.abs(values).max()
    if not magnitude <= MAX_MAGNITUDE:  # also false for NaN
        return None
    if plausible.low is not None and values.min() < plausible.low:
        return None
    if plausible.high is not None and values.max() > plausible.high:
        return None
    if not (epochs[1:] > epochs[:-1]).all() and len(np.unique(epochs)) != len(epochs):
        return None  # a repeated time: the point check keeps the first
    return epochs, values


def _point_problem(point: object, name: str, plausible: Range, window: TimeWindow) -> tuple[str, str] | None:
    """(field, reason) when a point is not [epoch_ms, number] with a plausible time and value (a number
    of series `name` in `plausible`); None when it is fine."""
    if isinstance(point, Flawed):
        where = flaw_field(point)
        return {"[0]": "epoch_ms", "[1]": "value"}.get(where or "", "point"), point.problem
    if not isinstance(point, list) or len(point) != 2:
        return "point", "point is not a [epoch_ms, value] pair"
    epoch, value = point
    if not is_number(epoch) or not math.isfinite(epoch) or epoch != int(epoch):
        return "epoch_ms", f"unparsable time: {describe(epoch)} is not epoch milliseconds"
    if (why := window.problem_ms(int(epoch))) is not None:
        return "epoch_ms", why
    if not is_number(value):
        return "value", f"non-numeric value {describe(value)}"
    if (why := plausible.problem(name, float(value))) is not None:
        return "value", why
    return None


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def plan(path: Path | str) -> list[Planned]:
    """The inputs to read, in order: assets first, then one telemetry document per device.

    `path` is a folder laid out like the vendor API (assets/, telemetry/) or the API's base URL.
    """
    future_tolerance()  # a tolerance that is not a number stops the command here, before anything is read
    seen = FirstSeen()

    def assets(doc: Document, rejects: Rejects, loaded_at: datetime) -> Parsed:
        return parse_assets(doc, rejects, loaded_at, seen)

    if is_url(path):
        base = str(path).rstrip("/")
        pages = asset_pages(base)
        device_ids = sorted({item["deviceId"] for page in pages for item in _page_items(page.content)})
        return [Planned(page, assets, BATTERY_ASSETS) for page in pages] + [
            Planned(
                UrlInput(f"{base}/telemetry/{d}", f"{base}/telemetry/{d}.json", d, TELEMETRY.name),
                parse_telemetry,
                BATTERY_TELEMETRY,
            )
            for d in device_ids
        ]
    root = require_dir(Path(path), "batteries", "assets/ and telemetry/")
    files = [Planned(f, assets, BATTERY_ASSETS) for f in find_files(root / "assets", "*.json", "assets")]
    files += [
        Planned(f, parse_telemetry, BATTERY_TELEMETRY)
        for f in find_files(root / "telemetry", "*.json", "telemetry")
    ]
    if not files:
        raise GridhouseError(
            f"batteries: {root} has no assets/*.json or telemetry/*.json; point it at the folder "
            "laid out like the vendor API (assets/assets.json, telemetry/<deviceId>.json)"
        )
    return files


def _page_items(content: bytes) -> list[dict[str, Any]]:
    """The well-formed items of an assets page (the parser quarantines the rest; a flaw in one item
    costs only that item's telemetry)."""
    body = loads(without_bom(content))
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return []
    return [
        i
        for i in items
        if isinstance(i, dict)
        and not isinstance(i, Flawed)
        and isinstance(i.get("deviceId"), str)
        and i["deviceId"]
    ]


batteries = vendor_source(
    "batteries",
    "battery_files",
    "Assets and telemetry from a folder laid out like the vendor API (assets/, telemetry/) or from the API.",
)
