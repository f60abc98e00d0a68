"""One place that makes dlt pipelines: destination, dataset per vendor, file format, cache location."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ingest.db import PROJECT_ROOT, Connection
from ingest.errors import GridhouseError
from ingest.loads import ensure_log, log_row, unfinished, vendor_lock
from ingest.memory import Memory, ensure_memory, forget
from ingest.reports import FileReport, LoadReport
from ingest.settle import settle, table_columns
from ingest.sources import batteries, circuits, devices, meters
from ingest.sources.base import LOADED_AT_KEY, QUARANTINE, Planned, TableSpec

# dlt reads its configuration from the environment; these are the project's defaults.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "CRITICAL")  # failures reach the user as one line
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")
# Parquet files are read back in batches by the binary COPY (ingest/binary_copy.py), which encodes the
# next batch while one is sent, so the server is kept busy whatever the row groups; 100k-row groups
# cost less to write and read than 20k-row ones (each has its own dictionaries and statistics).
os.environ.setdefault("DATA_WRITER__ROW_GROUP_SIZE", "100000")


@dataclass(frozen=True)
class Vendor:
    name: str
    plan: Callable[[Path | str], list[Planned]]
    source: Callable[..., Any]
    tables: tuple[TableSpec, ...]

    @property
    def dataset(self) -> str:
        return f"raw_{self.name}"


VENDORS = {
    v.name: v
    for v in (
        Vendor("batteries", batteries.plan, batteries.batteries, (batteries.ASSETS, batteries.TELEMETRY)),
        Vendor("meters", meters.plan, meters.meters, (meters.READINGS, meters.TENANTS)),
        Vendor("circuits", circuits.plan, circuits.circuits, (*circuits.METADATA.values(), circuits.POWER)),
        Vendor("devices", devices.plan, devices.devices, (devices.DEVICES, devices.READINGS)),
    )
}

# parquet goes through a binary COPY (ingest/binary_copy.py), the fast path; insert_values works everywhere
# (PGlite has no COPY).
FILE_FORMATS = ("parquet", "csv", "insert_values")


def vendor(name: str) -> Vendor:
    try:
        return VENDORS[name]
    except KeyError:
        raise GridhouseError(f"unknown source {name!r}: choose one of {', '.join(VENDORS)}") from None


def file_format() -> str:
    chosen = os.environ.get("GRIDHOUSE_LOADER_FORMAT", "parquet")
    if chosen not in FILE_FORMATS:
        raise GridhouseError(f"GRIDHOUSE_LOADER_FORMAT={chosen!r}: choose one of {', '.join(FILE_FORMATS)}")
    return chosen


def pipelines_dir(conn: Connection) -> Path:
    """dlt's local working folder, one per target database. Only a cache: what was loaded is remembered
    in the database (ingest/memory.py); a load package left by a load that died is finished from here."""
    home = Path(os.environ.get("GRIDHOUSE_HOME") or PROJECT_ROOT / ".gridhouse")
    key = hashlib.sha1(f"{conn.host}:{conn.port}/{conn.dbname}".encode()).hexdigest()[:12]
    return home / "dlt" / key


def load(
    name: str,
    path: Path | str,
    conn: Connection,
    *,
    full_refresh: bool = False,
    on_file: Callable[[FileReport], None] | None = None,
    planned: list[Any] | None = None,
) -> LoadReport:
    """Load one vendor's files into raw_<vendor>; returns per file read / loaded / corrected / quarantined.
    `planned` is the vendor's plan(path) when the caller already made it (a REST listing is fetched once).

    Under the vendor's load lock: first a load that died with its package still in the local cache is
    finished (logged `recovered`), then `path` is loaded as a load of its own (ingest/loads.py).
    """
    import dlt

    from ingest.binary_copy import gridhouse_postgres

    started = time.perf_counter()
    chosen = vendor(name)
    plan = chosen.plan(path) if planned is None else planned
    reports: list[FileReport] = []
    ensure_raw_tables(conn, [chosen])
    with vendor_lock(conn, chosen.dataset) as db:
        # Made under the lock: two loads of one vendor share this local working folder.
        pipeline = dlt.pipeline(
            pipeline_name=f"gridhouse_{chosen.name}",
            destination=gridhouse_postgres(conn.dlt_url(), destination_name="postgres"),
            dataset_name=chosen.dataset,
            pipelines_dir=str(pipelines_dir(conn)),
        )
        seconds = {"prepare": time.perf_counter() - started}
        recover(pipeline, conn, chosen, db, path)
        # One _loaded_at for the whole load, logged in raw_<vendor>._gridhouse_loads (ingest/loads.py).
        with log_row(db, chosen.dataset, forget=forgetting(chosen)) as stamp:
            memory = Memory.read(db, chosen.dataset)
            source = chosen.source(
                plan, reports, full_refresh, on_file, loaded_at=stamp.loaded_at, memory=memory
            )
            refused = _load(
                chosen, conn, path, pipeline, lambda: pipeline.run(source, loader_file_format=file_format())
            )
            for step in pipeline.last_trace.steps if pipeline.last_trace else ():
                if step.step != "run" and step.finished_at is not None:
                    seconds[step.step] = (step.finished_at - step.started_at).total_seconds()
            settled = time.perf_counter()
            corrected = settle_late_rows(conn, chosen, stamp.loaded_at)
            seconds["settle"] = time.perf_counter() - settled
            lost = quarantine_refused(conn, chosen, refused, stamp.loaded_at)
            memory.forget(lost.files, lost.series)
            for file in reports:
                file.corrected = corrected.get(file.file, 0)
                file.loaded -= lost.rows.get(file.file, 0)
                file.quarantined += lost.rows.get(file.file, 0)
            report = LoadReport(chosen.name, reports, seconds)
            stamp.files = len(reports)
            stamp.read, stamp.loaded, stamp.quarantined = report.read, report.loaded, report.quarantined
            stamp.corrected = report.corrected
            stamp.remember = lambda db: memory.write(db, chosen.dataset, stamp.loaded_at)
    return report


def recover(pipeline: Any, conn: Connection, chosen: Vendor, db: Any, path: Path | str) -> None:
    """Finish the load packages that a load which died left in the local cache, as a load of its own.

    Their rows carry the dead load's _loaded_at, which dbt may already have passed: they are re-stamped
    with this load's, logged `recovered` with `recovers` naming the dead load. Only loads this database
    logged and that did not finish are recovered; any other package (a database made anew) is dropped.
    `db` holds the vendor's lock. Without a cache, a dead load stays `abandoned`, its committed rows valid.
    """
    if not pipeline.has_pending_data:
        return
    _run(chosen, conn, path, pipeline.normalize)
    stamps = []
    for load_id in pipeline.list_normalized_load_packages():
        stamp = pipeline.get_load_package_state(load_id).get(LOADED_AT_KEY)
        stamps.append(datetime.fromisoformat(stamp) if stamp else None)
    dead = unfinished(db, chosen.dataset, [s for s in stamps if s is not None])
    if not dead or len(dead) < len(stamps):
        pipeline.abort_packages()  # not (all) this database's dead loads: leave it to the files
        return
    with log_row(
        db, chosen.dataset, status="recovered", recovers=max(dead), forget=forgetting(chosen)
    ) as stamp:
        refused = _load(chosen, conn, path, pipeline, pipeline.load)
        stamp.corrected = sum(settle_late_rows(conn, chosen, stamp.loaded_at).values())
        stamp.quarantined = sum(quarantine_refused(conn, chosen, refused, stamp.loaded_at).rows.values())
        restamp(conn, chosen, dead, stamp.loaded_at)  # and forgets the files and series it touched


def restamp(conn: Connection, chosen: Vendor, dead: list[datetime], loaded_at: datetime) -> None:
    """The rows (and the replacements) of the loads `dead` become rows of the load `loaded_at`, and the
    loader forgets the files and series they touched; one transaction."""
    from psycopg import sql

    schema = sql.Identifier(chosen.dataset)
    with conn.connect() as db:
        for spec in (*chosen.tables, QUARANTINE):
            db.execute(
                sql.SQL("update {}.{} set _loaded_at = %s where _loaded_at = any(%s)").format(
                    schema, sql.Identifier(spec.name)
                ),
                (loaded_at, dead),
            )
            if spec.strategy == "append-new":
                db.execute(
                    sql.SQL("update {}.{} set replaced_at = %s where replaced_at = any(%s)").format(
                        schema, sql.Identifier(spec.replaced_name)
                    ),
                    (loaded_at, dead),
                )
        forget(db, chosen.dataset, written_tables(chosen), [loaded_at])
        db.commit()


def written_tables(chosen: Vendor) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every table a load of `chosen` writes rows to, as ingest.memory.forget() takes them."""
    tables = [(spec.name, spec.name, spec.series) for spec in (*chosen.tables, QUARANTINE)]
    tables += [(spec.late_name, spec.name, spec.series) for spec in chosen.tables if spec.series]
    return tables


def forgetting(chosen: Vendor) -> Callable[[Any, list[datetime]], None]:
    """What the load log calls for loads that ended without finishing: forget what their rows touched."""
    return lambda db, stamps: forget(db, chosen.dataset, written_tables(chosen), stamps)


def _run(chosen: Vendor, conn: Connection, path: Path | str, step: Callable[[], Any]) -> Any:
    """A dlt step; its failure as one GridhouseError naming the input and the database."""
    from dlt.pipeline.exceptions import PipelineStepFailed

    try:
        return step()
    except PipelineStepFailed as exc:
        raise _step_error(chosen, conn, path, exc) from exc


def _step_error(chosen: Vendor, conn: Connection, path: Path | str, exc: Any) -> GridhouseError:
    cause = exc.__cause__ or exc.exception
    while cause is not None and not isinstance(cause, GridhouseError) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, GridhouseError):
        return cause
    return GridhouseError(
        f"{chosen.name}: the {exc.step} step failed while loading {path} into "
        f"{conn.host}:{conn.port}/{conn.dbname}: {str(cause).splitlines()[0] if cause else exc}"
    )


@dataclass(frozen=True)
class Refused:
    """A load job (a file of rows for one table) that the database refused twice, and why."""

    table: str
    file_path: str
    reason: str
    load_id: str


def _load(
    chosen: Vendor, conn: Connection, path: Path | str, pipeline: Any, step: Callable[[], Any]
) -> list[Refused]:
    """Run a dlt step that loads (`pipeline.run`, `pipeline.load`): the jobs the database refused.

    A job refused (a row the database will not take: a constraint, a value it cannot store) is retried
    once, by loading its package again; refused again, it is set aside as failed and the package is
    completed without it, so no package stays queued to fail every later load of the vendor. The
    caller quarantines its rows (quarantine_refused). Any other failure (the database unreachable) is
    one GridhouseError, and the package stays for the next command."""
    from dlt.load.exceptions import LoadClientJobFailed, LoadClientJobTerminalRetry
    from dlt.pipeline.exceptions import PipelineStepFailed

    try:
        step()
        return []
    except PipelineStepFailed as exc:
        refused = exc.step == "load" and any(
            isinstance(cause, LoadClientJobFailed | LoadClientJobTerminalRetry) for cause in _causes(exc)
        )
        if not refused or not pipeline.has_pending_data:
            raise _step_error(chosen, conn, path, exc) from exc
    info = _run(chosen, conn, path, lambda: pipeline.load(raise_on_failed_jobs=False))
    return [
        Refused(job.job_file_info.table_name, job.file_path, job.failed_message or "refused", package.load_id)
        for package in info.load_packages
        for job in package.jobs.get("failed_jobs", [])
    ]


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo and len(seen) < 50:
        current = todo.pop()
        if isinstance(current, BaseException) and not any(current is s for s in seen):
            seen.append(current)
            todo += [current.__cause__, current.__context__, getattr(current, "exception", None)]
    return seen


@dataclass
class Lost:
    """What quarantine_refused() took out of a load: rows per source file, and the files and series
    the loader must not remember as loaded."""

    rows: Counter[str] = field(default_factory=Counter)
    files: set[str] = field(default_factory=set)
    series: dict[str, set[str]] = field(default_factory=dict)


def quarantine_refused(conn: Connection, chosen: Vendor, refused: list[Refused], loaded_at: datetime) -> Lost:
    """The rows of the refused jobs, each a quarantine row of the file it came from (position: its table
    and key; raw_text: the row as the loader made it, JSON) with the database's reason; one
    transaction. A job file whose rows cannot be read back (insert_values) is one quarantine row holding
    the whole file. The files and series of those rows are returned to be forgotten, so the next
    delivery is read again."""
    lost = Lost()
    if not refused:
        return lost
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq
    from psycopg import sql

    from ingest.quarantine import raw_columns, safe_text
    from ingest.sources.marks import series_name

    specs = {s.name: s for s in (*chosen.tables, QUARANTINE)}
    specs.update({s.late_name: s for s in chosen.tables if s.strategy == "append-new"})
    quarantined: list[tuple] = []
    for job in refused:
        reason = safe_text(
            f"the database refused the rows of {job.table} twice (retried once): {_why(job.reason)}"
        )
        spec = specs.get(job.table)
        try:
            if job.file_path.endswith(".parquet"):
                rows = pq.read_table(job.file_path).to_pylist()
            elif job.file_path.endswith(".csv"):
                rows = pa_csv.read_csv(job.file_path).to_pylist()
            else:
                raise ValueError(job.file_path)
        except (OSError, ValueError):
            name = f"load job {Path(job.file_path).name}"
            quarantined.append(
                (name, "$", None, reason, *raw_columns(Path(job.file_path).read_bytes()), name, job.load_id)
            )
            continue
        for row in rows:
            source = str(row.get("_source_file") or f"load job {Path(job.file_path).name}")
            key = spec.primary_key if spec is not None else tuple(c for c in row if not c.startswith("_"))
            position = f"{job.table} " + ", ".join(f"{c}={_shown(row.get(c))}" for c in key)
            values = {c: _shown(v) for c, v in row.items() if not c.startswith("_")}
            raw_text, raw_bytes = raw_columns(values)
            quarantined.append(
                (source, safe_text(position), None, reason, raw_text, raw_bytes, source, job.load_id)
            )
            lost.rows[source] += 1
            lost.files.add(source)
            if spec is not None and spec.series:
                lost.series.setdefault(spec.name, set()).add(series_name(*(row[c] for c in spec.series)))
    with conn.connect() as db:
        db.cursor().executemany(
            sql.SQL(
                "insert into {}.{} as q (source_file, position, field, reason, raw_text, raw_bytes, _source_file, "
                "_loaded_at, _dlt_load_id) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "on conflict (source_file, position) do update set (field, reason, raw_text, raw_bytes, "
                "_loaded_at, _dlt_load_id) = (excluded.field, excluded.reason, excluded.raw_text, "
                "excluded.raw_bytes, excluded._loaded_at, excluded._dlt_load_id)"
            ).format(sql.Identifier(chosen.dataset), sql.Identifier(QUARANTINE.name)),
            [(*q[:7], loaded_at, q[7]) for q in quarantined],
        )
        db.commit()
    return lost


_EXCEPTION_LINE = re.compile(r"^[\w.]*(?:Error|Exception|Violation)\w*: (.+)$")


def _why(message: str) -> str:
    """The database's words in a failed job's message (dlt keeps the traceback): the last exception
    line, with the DETAIL line after it."""
    lines = message.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if match := _EXCEPTION_LINE.match(lines[i].strip()):
            detail = [line.strip() for line in lines[i + 1 : i + 3] if line.strip().startswith("DETAIL:")]
            return " ".join([match[1], *detail])[:1000]
    return " ".join(message.split())[:1000]


def _shown(value: object) -> object:
    """A value of a refused row as JSON can write it (a time as ISO text)."""
    return value.isoformat() if isinstance(value, datetime) else value


PG_TYPES = {
    "string": "varchar",
    "int64": "bigint",
    "double": "double precision",
    "bool": "boolean",
    "binary": "bytea",
}


def _column_type(arrow_type: Any) -> str:
    if str(arrow_type).startswith("timestamp"):
        return "timestamp with time zone"
    return PG_TYPES[str(arrow_type)]


def ensure_raw_tables(conn: Connection, vendors: Iterable[Vendor] | None = None) -> None:
    """Every raw table, empty if nothing was loaded yet, with a unique index on its primary key.

    So dbt builds before a vendor has sent anything (its marts are empty, not broken), consumers can
    count on each `quarantine` table, and duplicate keys are impossible, not merely unlikely.
    The columns are the loader's TableSpecs plus dlt's `_dlt_load_id`; dlt adopts the tables. Each fact
    table has `<table>_late` (rows to upsert) and `<table>_replaced` (the rows corrections replaced, with
    `replaced_at`); the load log and the loader's memory (ingest/memory.py) are made here too.
    """
    with conn.connect(autocommit=True) as db:
        for chosen in VENDORS.values() if vendors is None else vendors:
            # `if not exists` is no guard against a concurrent command creating the same object (a
            # UniqueViolation on the catalog): commands that make a vendor's tables take turns.
            with tables_lock(db, chosen.dataset):
                _ensure_vendor_tables(db, chosen)


@contextlib.contextmanager
def tables_lock(db: Any, dataset: str) -> Iterator[None]:
    """Hold the advisory lock that serializes creating and altering `dataset`'s tables (not the load
    lock: a load of the vendor may be running meanwhile)."""
    key = f"gridhouse tables {dataset}"
    db.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (key,))
    try:
        yield
    finally:
        db.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


def _ensure_vendor_tables(db: Any, chosen: Vendor) -> None:
    from psycopg import sql

    schema = sql.Identifier(chosen.dataset)
    db.execute(sql.SQL("create schema if not exists {}").format(schema))
    ensure_log(db, chosen.dataset)
    ensure_memory(db, chosen.dataset)
    # (spec, keyed, extra column): `<table>_late` holds rows that may repeat keys until they are
    # settled; `<table>_replaced` the rows a correction replaced. Made before the keyed tables,
    # whose older versions they may take rows from (key_on_instant).
    specs = []
    for s in chosen.tables:
        if s.strategy == "append-new":
            specs.append((replace(s, name=s.late_name), False, ""))
            specs.append((replace(s, name=s.replaced_name), False, "replaced_at"))
    specs += [(s, True, "") for s in (*chosen.tables, QUARANTINE)]
    for spec, keyed, extra in specs:
        columns = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(f.name),
                sql.SQL(_column_type(f.type)),
                sql.SQL("" if f.nullable else " not null"),
            )
            for f in spec.full_schema
        ]
        columns.append(sql.SQL("_dlt_load_id varchar(64) not null"))
        if extra:
            columns.append(sql.SQL("{} timestamp with time zone not null").format(sql.Identifier(extra)))
        db.execute(
            sql.SQL("create table if not exists {}.{} ({})").format(
                schema, sql.Identifier(spec.name), sql.SQL(", ").join(columns)
            )
        )
        held = table_columns(db, chosen.dataset, spec.name)
        for f in spec.full_schema:  # a column added to the loader later (quarantine.raw_bytes)
            if f.name not in held and f.nullable:
                db.execute(
                    sql.SQL("alter table {}.{} add column if not exists {} {}").format(
                        schema,
                        sql.Identifier(spec.name),
                        sql.Identifier(f.name),
                        sql.SQL(_column_type(f.type)),
                    )
                )
        if not keyed:
            continue
        key_on_instant(db, chosen.dataset, spec)
        db.execute(
            sql.SQL("create unique index if not exists {} on {}.{} ({})").format(
                sql.Identifier(f"{spec.name}_pkey"),
                schema,
                sql.Identifier(spec.name),
                sql.SQL(", ").join(sql.Identifier(c) for c in spec.primary_key),
            )
        )
        # Incremental models read "rows loaded since the last build": _loaded_at grows with the
        # insertion order, so a BRIN index (a few pages) prunes that scan to the newest blocks.
        db.execute(
            sql.SQL("create index if not exists {} on {}.{} using brin (_loaded_at)").format(
                sql.Identifier(f"{spec.name}_loaded_at_brin"), schema, sql.Identifier(spec.name)
            )
        )


def key_on_instant(db: Any, dataset: str, spec: TableSpec) -> None:
    """A fact table made when its key was the published text (timestamp_iso) gets the parsed instant:
    the column, filled from the text; of one instant written several ways the newest row stays and the
    others go to `<table>_replaced`; the key index is dropped, and made again on the instant."""
    from psycopg import sql

    if spec.time != "measured_at" or spec.time in table_columns(db, dataset, spec.name):
        return
    schema, table = sql.Identifier(dataset), sql.Identifier(spec.name)
    key = sql.SQL(", ").join(sql.Identifier(c) for c in spec.primary_key)
    with db.transaction():
        for name in (spec.name, spec.late_name):
            db.execute(
                sql.SQL(
                    "alter table {}.{} add column if not exists measured_at timestamp with time zone; "
                    "update {}.{} set measured_at = timestamp_iso::timestamptz where measured_at is null"
                ).format(schema, sql.Identifier(name), schema, sql.Identifier(name))
            )
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in table_columns(db, dataset, spec.name))
        db.execute(
            sql.SQL(
                "with ranked as ("
                "select ctid, row_number() over (partition by {key} order by _loaded_at desc, ctid desc) as nth "
                "from {schema}.{table}), "
                "dropped as (delete from {schema}.{table} where ctid in (select ctid from ranked where nth > 1) "
                "returning {columns}) "
                "insert into {schema}.{replaced} ({columns}, replaced_at) select {columns}, now() from dropped"
            ).format(
                key=key,
                schema=schema,
                table=table,
                columns=columns,
                replaced=sql.Identifier(spec.replaced_name),
            )
        )
        db.execute(sql.SQL("alter table {}.{} alter column measured_at set not null").format(schema, table))
        db.execute(sql.SQL("drop index if exists {}.{}").format(schema, sql.Identifier(f"{spec.name}_pkey")))


def settle_late_rows(conn: Connection, chosen: Vendor, loaded_at: datetime) -> Counter[str]:
    """Upsert the rows of every `<table>_late` (ingest/settle.py), in one transaction; returns the rows
    corrected per `_source_file`. Runs after every load, so leftovers of a load that died are taken in
    too; an empty `<table>_late` (no row went late: the usual case) costs one probe.
    The tables exist: ensure_raw_tables() made them before the load."""
    corrected: Counter[str] = Counter()
    with conn.connect() as db:
        for spec in chosen.tables:
            if spec.strategy == "append-new":
                corrected += settle(db, chosen.dataset, spec, loaded_at)
        db.commit()
    return corrected
