"""What every vendor source shares: table specs, one resource that walks files, the per-file memory."""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import dlt
import numpy as np
import pyarrow as pa

from ingest import quarantine
from ingest.documents import Document, locate, other_kind, wrong_kind
from ingest.errors import GridhouseError
from ingest.filestat import file_stat
from ingest.memory import Memory
from ingest.quarantine import Rejects
from ingest.reports import FileReport
from ingest.sources.marks import SeriesCodes, Split, row_hashes, split

Strategy = Literal["append-new", "delete-insert"]
INSTANT_TYPE = pa.timestamp("us", tz="UTC")  # a UTC instant, to the microsecond
LOADED_AT_TYPE = INSTANT_TYPE


@dataclass(frozen=True)
class TableSpec:
    """A raw table: arrow schema (without load metadata), primary key and how it is written.

    append-new: facts (telemetry, readings). New rows are appended (COPY, no merge); rows that may
        have been loaded before go through `<name>_late` and are upserted (ingest/settle.py): latest
        delivery wins, a replaced row goes to `<name>_replaced`. `series` names the key columns of one
        series; `time` is the rest of the primary key, the record's instant (epoch_ms or measured_at);
        `values` are what a correction changes (compared as a whole, and in the series marks' checksum).
    delete-insert: slowly changing records (assets, metadata, quarantine): dlt merge, newest wins.
    """

    name: str
    schema: pa.Schema
    primary_key: tuple[str, ...]
    strategy: Strategy
    series: tuple[str, ...] = ()
    time: str = ""
    values: tuple[str, ...] = ()

    @property
    def late_name(self) -> str:
        return f"{self.name}_late"

    @property
    def replaced_name(self) -> str:
        return f"{self.name}_replaced"

    @property
    def full_schema(self) -> pa.Schema:
        return self.schema.append(pa.field("_source_file", pa.string(), nullable=False)).append(
            pa.field("_loaded_at", LOADED_AT_TYPE, nullable=False)
        )

    def table(self, columns: dict[str, Any], source_file: str, loaded_at: datetime) -> pa.Table:
        """The rows with their load metadata; a column is a list, a numpy array or an Arrow array.

        A string column may come as an Arrow dictionary of strings, and `_source_file` is one: a value
        repeated on every row costs an index per row instead of its bytes, in memory, in the parquet
        files (no hashing to find the repeats) and in the binary COPY (its bytes encoded once).
        """
        n = len(next(iter(columns.values()))) if columns else 0
        arrays = [_arrow(columns[f.name], f.type) for f in self.schema]
        arrays.append(repeated(source_file, n))
        arrays.append(pa.repeat(pa.scalar(loaded_at, LOADED_AT_TYPE), n))
        schema = pa.schema(f.with_type(a.type) for f, a in zip(self.full_schema, arrays, strict=True))
        return pa.Table.from_arrays(arrays, schema=schema)

    def item(self, table: pa.Table, late: bool = False) -> Any:
        if self.strategy == "append-new":
            hints = dlt.mark.make_hints(
                table_name=self.late_name if late else self.name, write_disposition="append"
            )
        else:
            hints = dlt.mark.make_hints(
                table_name=self.name,
                primary_key=list(self.primary_key),
                write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            )
        return dlt.mark.with_hints(table, hints, create_table_variant=True)


def repeated(value: str, n: int) -> pa.DictionaryArray:
    """`value` on each of n rows, as a dictionary of one string."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, np.int32)), pa.array([value], pa.string()), safe=False
    )


def _arrow(values: Any, arrow_type: pa.DataType) -> pa.Array:
    if isinstance(values, pa.Array) and values.type == arrow_type:
        return values
    if isinstance(values, pa.DictionaryArray) and values.type.value_type == arrow_type:
        return values
    return pa.array(values, arrow_type)  # zero-copy for a numpy array of the same type


QUARANTINE = TableSpec(
    "quarantine",
    pa.schema([f for f in quarantine.SCHEMA if not f.name.startswith("_")]),
    tuple(quarantine.PRIMARY_KEY),
    "delete-insert",
)


@dataclass(frozen=True)
class Rows:
    """Rows for one raw table; for append-new tables, `times` holds each row's time in epoch ms."""

    spec: TableSpec
    table: pa.Table
    times: np.ndarray | None = None
    series: SeriesCodes | None = None  # each row's series, when the parser knows it (marks.split)


@dataclass
class Parsed:
    """The outcome of parsing one document: rows to load and the record counts. `tables` may be an
    iterator that counts as it goes (a streamed document): read the counts after it is exhausted."""

    tables: list[Rows] | Iterator[Rows] = field(default_factory=list)
    read: int = 0
    loaded: int = 0


Parser = Callable[[Document, Rejects, datetime], Parsed]


class Input(Protocol):
    """Where a document comes from: a file, a URL, or bytes already fetched."""

    name: str

    def read(self, cursors: dict[str, Any] | None = None) -> Document: ...


@dataclass(frozen=True)
class Planned:
    """An input, the parser that reads it and the kind of file it must hold (ingest/documents.py): a
    file that plainly holds another kind is quarantined whole, never parsed as what it is not."""

    file: Input
    parse: Parser
    kind: str | None = None


def walk(
    source: str,
    plan: Iterable[Planned],
    reports: list[FileReport],
    full_refresh: bool,
    memory: Memory,
    on_file: Callable[[FileReport], None] | None = None,
    loaded_at: datetime | None = None,
) -> Iterator[Any]:
    """Parse each document once, yield its tables and quarantine, note its digest in `memory`.

    A document whose digest a finished load remembers is skipped: loading the same files again adds
    nothing. A changed document is parsed whole; its fact rows are split by the series marks (marks.py)
    and yielded in batches of many documents.
    """
    batches = Batches()
    for planned in plan:
        report = FileReport(source=source, file=planned.file.name)
        try:
            doc = planned.file.read(memory.cursors())
        except GridhouseError as exc:  # an API that kept failing: try this input again next load
            report.error = str(exc)
            reports.append(report)
            if on_file is not None:
                on_file(report)
            continue
        # the stat before the digest: a write after it shows as another stat next time
        stat = file_stat(doc.path) if doc.path is not None else None
        if not full_refresh and memory.unchanged(doc.name, stat):
            report.unchanged = True  # the stat a finished load read it under: not digested
        elif not full_refresh and memory.digests.get(doc.name) == doc.digest:
            report.unchanged = True
            memory.restat(doc.name, stat)
        else:
            digest = doc.digest
            started = time.perf_counter()
            stamp = loaded_at or datetime.now(UTC)
            rejects = Rejects(doc.name)
            found = other_kind(doc.head(), planned.kind) if planned.kind else None
            if found is not None:
                assert planned.kind is not None
                rejects.add("$", None, wrong_kind(found, planned.kind), doc.content)
                parsed = Parsed(read=1)
            else:
                with gc_paused():
                    parsed = planned.parse(doc, rejects, stamp)
            report.parse_seconds = time.perf_counter() - started
            for rows in parsed.tables:  # a streamed document's tables come one piece at a time
                if rows.spec.strategy == "append-new":
                    started = time.perf_counter()
                    parts = _split(rows, memory, trust=not full_refresh)
                    report.parse_seconds += time.perf_counter() - started
                    report.skipped += parts.skipped
                    yield from batches.add(rows.spec, parts.new)
                    yield from batches.add(rows.spec, parts.late, late=True)
                elif rows.table.num_rows:
                    yield rows.spec.item(rows.table)
            if paths := rejects.unlocated():  # the bad records' bytes as read, not as parsed
                rejects.locate(locate(doc.content, paths))
            report.read, report.quarantined = parsed.read, len(rejects)
            report.loaded = parsed.loaded
            if len(rejects):
                yield QUARANTINE.item(rejects.table(stamp))
            if report.read:  # a file that gave nothing (e.g. only another tenant's meters) leaves no trace
                memory.remember(doc.name, digest, report, stat)
        reports.append(report)
        if on_file is not None:
            on_file(report)
    yield from batches.flush()


def _split(rows: Rows, memory: Memory, trust: bool) -> Split:
    """A document's fact rows: new, late (may repeat held keys) and skipped (held as they are)."""
    spec = rows.spec
    assert rows.times is not None, spec.name
    hashes = row_hashes(rows.table, (spec.time, *spec.values))
    marks, changed = memory.marks_of(spec.name), memory.changed_in(spec.name)
    return split(rows.table, spec.series, rows.times, hashes, marks, trust, rows.series, changed)


BATCH_ROWS = 250_000


class Batches:
    """Fact rows of many documents, handed to dlt as a few large tables instead of one per document:
    dlt's cost (schema inference, buffering, writing) is mostly per item, not per row."""

    def __init__(self, rows: int = BATCH_ROWS) -> None:
        self.rows = rows
        self._pending: dict[tuple[str, bool], tuple[TableSpec, list[pa.Table]]] = {}
        self._counts: dict[tuple[str, bool], int] = {}

    def add(self, spec: TableSpec, table: pa.Table, late: bool = False) -> Iterator[Any]:
        if not table.num_rows:
            return
        key = (spec.name, late)
        self._pending.setdefault(key, (spec, []))[1].append(table)
        self._counts[key] = self._counts.get(key, 0) + table.num_rows
        if self._counts[key] >= self.rows:
            yield from self.flush(key)

    def flush(self, only: tuple[str, bool] | None = None) -> Iterator[Any]:
        for key in [only] if only is not None else list(self._pending):
            spec, tables = self._pending.pop(key)
            del self._counts[key]
            yield spec.item(pa.concat_tables(tables), late=key[1])


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a document is parsed.

    A parsed document is millions of young lists that all survive until they are turned into columns:
    the collector would walk them again and again (3x the parse time) to find no cycle; reference
    counting frees them when the parser drops the document.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


LOADED_AT_KEY = "gridhouse_loaded_at"  # in the load package's state: the `_loaded_at` of its rows


def vendor_resource(
    name: str,
    source: str,
    plan: list[Planned],
    reports: list[FileReport],
    full_refresh: bool,
    on_file: Callable[[FileReport], None] | None,
    loaded_at: datetime | None = None,
    memory: Memory | None = None,
) -> Any:
    """The one dlt resource of a vendor: walks its planned files and dispatches rows to raw tables."""

    @dlt.resource(name=name)
    def files() -> Iterator[Any]:
        if loaded_at is not None:  # a later command that finds this package unloaded re-stamps its rows
            dlt.current.load_package_state()["state"][LOADED_AT_KEY] = loaded_at.isoformat()
        yield from walk(source, plan, reports, full_refresh, memory or Memory(), on_file, loaded_at)

    return files


def vendor_source(name: str, resource: str, description: str) -> Callable[..., Any]:
    """The dlt source of one vendor: a single resource (`resource`) that walks the planned inputs and
    dispatches rows to raw tables. What was read before comes from `memory` (ingest/memory.py), never
    from dlt's state."""

    def source(
        plan: list[Planned],
        reports: list[FileReport],
        full_refresh: bool = False,
        on_file: Callable[[FileReport], None] | None = None,
        loaded_at: datetime | None = None,
        memory: Memory | None = None,
    ) -> Any:
        return vendor_resource(resource, name, plan, reports, full_refresh, on_file, loaded_at, memory)

    source.__name__ = source.__qualname__ = name
    source.__doc__ = description
    return dlt.source(name=name)(source)


def is_number(value: object) -> bool:
    """JSON numbers only: bool is not a number, and neither is a numeric string."""
    return type(value) is int or type(value) is float


def text_problem(record: dict[str, Any], key: str, label: str | None = None) -> tuple[str, str] | None:
    """(field, reason) when the optional text field `key` holds something else than a string or null
    (a list, a number): quarantined rather than loaded as null, which would lose it without a word."""
    value = record.get(key)
    if value is None or isinstance(value, str):
        return None
    label = label or key
    return label, f"{label} must be a string or null, got {describe(value)}"


def describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$")


def iso_problem(value: object) -> str | None:
    """Why `value` is not an ISO-8601 time with a zone (UTC `Z` or an offset); None when it is one."""
    if not isinstance(value, str) or not ISO_UTC.match(value):
        return (
            f"unparsable time {describe(value)}: expected ISO 8601 with a zone, e.g. 2023-02-28T23:45:00.000Z"
        )
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        return f"unparsable time {describe(value)}: {exc}"
    return None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def iso_epoch_us(value: str) -> int:
    """The instant of an ISO time that iso_problem() accepted, in epoch microseconds: one number for
    every way of writing it (`...00Z`, `...00.000Z`, `...01:00+01:00`)."""
    return (datetime.fromisoformat(value) - EPOCH) // MICROSECOND


class FirstSeen:
    """Keys of a slowly changing table (assets, devices, circuit metadata, tenants) read before in this
    load, with the file each came from. A key read again, in another file or page or the same one, is
    quarantined as a duplicate and the first one kept: a merge would keep one row of the two, and the
    report would count a record loaded that the table does not hold."""

    def __init__(self) -> None:
        self._files: dict[object, str] = {}

    def first(self, key: object, source_file: str) -> str | None:
        """None the first time `key` is read; after that, the file it was first read from."""
        if key in self._files:
            return self._files[key]
        self._files[key] = source_file
        return None

    @staticmethod
    def duplicate(field: str, value: object, first_file: str, source_file: str) -> str:
        where = "earlier in this file" if first_file == source_file else f"in {first_file}"
        return f"duplicate {field} {describe(value)}: read {where} in this load (the first one is kept)"


class RunKeys:
    """Keys already read in this run, across files, hashed to 8 bytes each, so a key read twice is
    quarantined instead of reaching the table twice in one load. A key holds the record's instant
    (iso_epoch_us), never its text: one instant written two ways is one key."""

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def first_time(self, *key: object) -> bool:
        h = hash(key)
        if h in self._seen:
            return False
        self._seen.add(h)
        return True
