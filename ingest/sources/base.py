"""What every vendor source shares: table specs, one resource that walks files, file-level state."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import dlt
import pyarrow as pa

from ingest import quarantine
from ingest.documents import Document, FileInput
from ingest.quarantine import Rejects
from ingest.reports import FileReport

Strategy = Literal["insert-only", "delete-insert"]


@dataclass(frozen=True)
class TableSpec:
    """A raw table: arrow schema (without load metadata), primary key and merge strategy.

    insert-only: append-only facts (telemetry, readings); a key already present is skipped.
    delete-insert: slowly changing records (assets, metadata, quarantine); the newest version wins.
    """

    name: str
    schema: pa.Schema
    primary_key: tuple[str, ...]
    strategy: Strategy

    @property
    def full_schema(self) -> pa.Schema:
        return self.schema.append(pa.field("_source_file", pa.string(), nullable=False)).append(
            pa.field("_loaded_at", pa.timestamp("us", tz="UTC"), nullable=False)
        )

    def table(self, columns: dict[str, list[Any]], source_file: str, loaded_at: datetime) -> pa.Table:
        n = len(next(iter(columns.values()))) if columns else 0
        data = dict(columns)
        data["_source_file"] = [source_file] * n
        data["_loaded_at"] = [loaded_at] * n
        return pa.Table.from_pydict(data, schema=self.full_schema)

    def item(self, table: pa.Table) -> Any:
        hints = dlt.mark.make_hints(
            table_name=self.name,
            primary_key=list(self.primary_key),
            write_disposition={"disposition": "merge", "strategy": self.strategy},
        )
        return dlt.mark.with_hints(table, hints, create_table_variant=True)


QUARANTINE = TableSpec(
    "quarantine",
    pa.schema([f for f in quarantine.SCHEMA if not f.name.startswith("_")]),
    tuple(quarantine.PRIMARY_KEY),
    "delete-insert",
)


@dataclass
class Parsed:
    """The outcome of parsing one document: tables to load and the record counts."""

    tables: list[tuple[TableSpec, pa.Table]] = field(default_factory=list)
    read: int = 0
    loaded: int = 0


Parser = Callable[[Document, Rejects, datetime], Parsed]


@dataclass(frozen=True)
class Planned:
    """A file and the parser that reads it."""

    file: FileInput
    parse: Parser


def walk(
    source: str,
    plan: Iterable[Planned],
    reports: list[FileReport],
    full_refresh: bool,
    state: dict[str, Any],
    on_file: Callable[[FileReport], None] | None = None,
) -> Iterator[Any]:
    """Parse each document once, yield its tables and quarantine, record its digest in the state.

    A document whose digest was loaded before is skipped: loading the same files again adds nothing.
    A changed document is parsed whole; insert-only tables then keep only keys not yet loaded.
    """
    seen: dict[str, str] = state.setdefault("digests", {})
    for planned in plan:
        doc = planned.file.read()
        report = FileReport(source=source, file=doc.name)
        digest = doc.digest
        if not full_refresh and seen.get(doc.name) == digest:
            report.unchanged = True
        else:
            loaded_at = datetime.now(UTC)
            rejects = Rejects(doc.name)
            parsed = planned.parse(doc, rejects, loaded_at)
            report.read, report.loaded, report.quarantined = parsed.read, parsed.loaded, len(rejects)
            for spec, table in parsed.tables:
                if table.num_rows:
                    yield spec.item(table)
            if len(rejects):
                yield QUARANTINE.item(rejects.table(loaded_at))
            seen[doc.name] = digest
        reports.append(report)
        if on_file is not None:
            on_file(report)


def vendor_resource(
    name: str,
    source: str,
    plan: list[Planned],
    reports: list[FileReport],
    full_refresh: bool,
    on_file: Callable[[FileReport], None] | None,
) -> Any:
    """The one dlt resource of a vendor: walks its planned files and dispatches rows to raw tables."""

    @dlt.resource(name=name)
    def files() -> Iterator[Any]:
        yield from walk(source, plan, reports, full_refresh, dlt.current.resource_state(), on_file)

    return files


def is_number(value: object) -> bool:
    """JSON numbers only: bool is not a number, and neither is a numeric string."""
    return type(value) is int or type(value) is float


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


class RunKeys:
    """Keys already read in this run, across files, hashed to 8 bytes each, so a key read twice
    is quarantined instead of reaching an insert-only merge twice."""

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def first_time(self, *key: object) -> bool:
        h = hash(key)
        if h in self._seen:
            return False
        self._seen.add(h)
        return True
