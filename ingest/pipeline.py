"""One place that makes dlt pipelines: destination, dataset per vendor, file format, state location."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ingest.db import PROJECT_ROOT, Connection
from ingest.errors import GridhouseError
from ingest.loads import ensure_log, logged_load
from ingest.reports import FileReport, LoadReport
from ingest.sources import batteries, circuits, devices, meters
from ingest.sources.base import QUARANTINE, Planned, TableSpec

# dlt reads its configuration from the environment; these are the project's defaults.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
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
    """dlt's local working state, one folder per target database so state never crosses databases."""
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
) -> LoadReport:
    """Load one vendor's files into raw_<vendor>; returns per-file read / loaded / quarantined."""
    import dlt
    from dlt.pipeline.exceptions import PipelineStepFailed

    from ingest.binary_copy import EarlyCopies, gridhouse_postgres

    started = time.perf_counter()
    chosen = vendor(name)
    plan = chosen.plan(path)
    reports: list[FileReport] = []
    ensure_raw_tables(conn, [chosen])
    pipeline = dlt.pipeline(
        pipeline_name=f"gridhouse_{chosen.name}",
        destination=gridhouse_postgres(conn.dlt_url(), destination_name="postgres"),
        dataset_name=chosen.dataset,
        pipelines_dir=str(pipelines_dir(conn)),
    )
    seconds = {"prepare": time.perf_counter() - started}
    # One _loaded_at for the whole load, logged in raw_<vendor>._gridhouse_loads (ingest/loads.py).
    with logged_load(conn, chosen.dataset) as stamp:
        # parquet load files go by binary COPY: new fact rows start on their way while parsing goes on
        early = EarlyCopies(conn.connect, chosen.dataset) if file_format() == "parquet" else None
        source = chosen.source(plan, reports, full_refresh, on_file, loaded_at=stamp.loaded_at, early=early)
        try:
            pipeline.run(source, loader_file_format=file_format())
        except PipelineStepFailed as exc:
            cause = exc.__cause__ or exc.exception
            while cause is not None and not isinstance(cause, GridhouseError) and cause.__cause__ is not None:
                cause = cause.__cause__
            if isinstance(cause, GridhouseError):
                raise cause from None
            raise GridhouseError(
                f"{chosen.name}: the {exc.step} step failed while loading {path} into "
                f"{conn.host}:{conn.port}/{conn.dbname}: {str(cause).splitlines()[0] if cause else exc}"
            ) from exc
        finally:
            if early is not None:
                early.abandon()  # rows that no load job committed (a failed load) are rolled back
        for step in pipeline.last_trace.steps if pipeline.last_trace else ():
            if step.step != "run" and step.finished_at is not None:
                seconds[step.step] = (step.finished_at - step.started_at).total_seconds()
        settled = time.perf_counter()
        settle_late_rows(conn, chosen)
        seconds["settle"] = time.perf_counter() - settled
        report = LoadReport(chosen.name, reports, seconds)
        stamp.files = len(reports)
        stamp.read, stamp.loaded, stamp.quarantined = report.read, report.loaded, report.quarantined
    return report


PG_TYPES = {"string": "varchar", "int64": "bigint", "double": "double precision", "bool": "boolean"}


def _column_type(arrow_type: Any) -> str:
    if str(arrow_type).startswith("timestamp"):
        return "timestamp with time zone"
    return PG_TYPES[str(arrow_type)]


def ensure_raw_tables(conn: Connection, vendors: Iterable[Vendor] | None = None) -> None:
    """Every raw table, empty if nothing was loaded yet, with a unique index on its primary key.

    So dbt builds before a vendor has sent anything (its marts are empty, not broken), consumers can
    count on each `quarantine` table, and duplicate keys are impossible, not merely unlikely.
    The columns are the loader's TableSpecs plus dlt's `_dlt_load_id`; dlt adopts the tables.
    """
    from psycopg import sql

    with conn.connect(autocommit=True) as db:
        for chosen in VENDORS.values() if vendors is None else vendors:
            schema = sql.Identifier(chosen.dataset)
            db.execute(sql.SQL("create schema if not exists {}").format(schema))
            ensure_log(db, chosen.dataset)
            # (spec, keyed): `<table>_late` holds rows that may repeat keys until they are settled.
            specs = [(s, True) for s in (*chosen.tables, QUARANTINE)]
            specs += [
                (replace(s, name=s.late_name), False) for s in chosen.tables if s.strategy == "append-new"
            ]
            for spec, keyed in specs:
                columns = [
                    sql.SQL("{} {}{}").format(
                        sql.Identifier(f.name),
                        sql.SQL(_column_type(f.type)),
                        sql.SQL("" if f.nullable else " not null"),
                    )
                    for f in spec.full_schema
                ]
                columns.append(sql.SQL("_dlt_load_id varchar(64) not null"))
                db.execute(
                    sql.SQL("create table if not exists {}.{} ({})").format(
                        schema, sql.Identifier(spec.name), sql.SQL(", ").join(columns)
                    )
                )
                if not keyed:
                    continue
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


def settle_late_rows(conn: Connection, chosen: Vendor) -> int:
    """Move rows that may have been loaded before from `<table>_late` into the table, skipping keys
    already there (the unique index decides). Runs after every load, so an interrupted one heals;
    an empty `<table>_late` (no row went late: the usual case) costs one probe.
    Both tables and the index exist: ensure_raw_tables() made them before the load."""
    from psycopg import sql

    moved = 0
    with conn.connect() as db:
        for spec in chosen.tables:
            if spec.strategy != "append-new":
                continue
            schema, table, late_table = (
                sql.Identifier(n) for n in (chosen.dataset, spec.name, spec.late_name)
            )
            late = db.execute(sql.SQL("select exists (select from {}.{})").format(schema, late_table))
            if not late.fetchone()[0]:  # the usual case: the marks sent every row straight to the table
                continue
            columns = [  # as dlt left them: it may have added columns since the tables were made
                row[0]
                for row in db.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = %s and table_name = %s order by ordinal_position",
                    (chosen.dataset, spec.late_name),
                )
            ]
            names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            cursor = db.execute(
                sql.SQL("insert into {}.{} ({}) select {} from {}.{} on conflict do nothing").format(
                    schema, table, names, names, schema, late_table
                )
            )
            moved += max(cursor.rowcount, 0)
            db.execute(sql.SQL("delete from {}.{}").format(schema, late_table))
        db.commit()
    return moved
