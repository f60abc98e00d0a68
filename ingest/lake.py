"""The lake: raw device readings as parquet, written by dlt's filesystem destination, for the Spark tier.

`gridhouse load devices PATH --to lake` parses with the very parsers of the PostgreSQL path
(ingest/sources/devices.py), so the same records are loaded or quarantined and per file
read = loaded + quarantined. It writes under the lake's URL (`GRIDHOUSE_LAKE_URL`, else
`[destination.lake] bucket_url` in .dlt/config.toml or DESTINATION__LAKE__BUCKET_URL, else
`$GRIDHOUSE_HOME/lake`; s3://, gs://, abfs:// take their credentials from dlt's configuration):

    raw_devices/readings/local_day=YYYY-MM-DD/<load_id>.<file_id>.parquet   the readings, by local day
    raw_devices/devices/...            the registry          raw_devices/quarantine/...    what was not loaded
    raw_devices/_gridhouse_loads/...   the load log          raw_devices/_gridhouse_files/... the file memory

The lake is append-only: a correction is a later row of the same key, and readers keep the newest
`_loaded_at` (stg_devices__readings on Spark). A load writes its rows first and its log row last, in a
package of its own with the file memory: rows whose load is not in the log are not taken in by the
models until a later load ends (the `loaded_at <= newest ended load` bound of loads_to_take_in), exactly
like an abandoned load's committed rows on PostgreSQL. Loads into one lake take turns through a lock file
under GRIDHOUSE_HOME (one machine); with a bucket shared by machines, run one loader at a time.

Readings are partitioned by the local day of the device's home (the registry in this load or in the
lake, else var device_time_zone), the partition the Spark models recompute (docs/spark.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.db import PROJECT_ROOT
from ingest.errors import GridhouseError
from ingest.filestat import FILES
from ingest.loads import TABLE as LOG
from ingest.memory import Memory
from ingest.reports import FileReport, LoadReport
from ingest.sources import devices
from ingest.sources.base import walk

# dlt's defaults as the PostgreSQL loader sets them (ingest/pipeline.py): nothing phones home, and a
# failure reaches the user as one line.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "CRITICAL")

DATASET = "raw_devices"
# dbt_project.yml var device_time_zone: the zone of a device the registry gives none for.
DEFAULT_TIME_ZONE = "Europe/Zurich"
DAY_BATCH_ROWS = 250_000
LOG_SCHEMA = pa.schema(
    [
        pa.field("loaded_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("finished_at", pa.timestamp("us", tz="UTC")),
        pa.field("status", pa.string(), nullable=False),
        pa.field("files", pa.int64()),
        pa.field("read", pa.int64()),
        pa.field("loaded", pa.int64()),
        pa.field("corrected", pa.int64()),
        pa.field("quarantined", pa.int64()),
        pa.field("recovers", pa.timestamp("us", tz="UTC")),
    ]
)
FILES_SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("digest", pa.string(), nullable=False),
        pa.field("loaded_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("read", pa.int64()),
        pa.field("loaded", pa.int64()),
        pa.field("quarantined", pa.int64()),
    ]
)


def lake_url() -> str:
    """Where the lake is: GRIDHOUSE_LAKE_URL, dlt's destination.lake.bucket_url, else a local folder."""
    given = os.environ.get("GRIDHOUSE_LAKE_URL") or os.environ.get("DESTINATION__LAKE__BUCKET_URL")
    if not given:
        import dlt

        with contextlib.suppress(Exception):
            given = dlt.config.get("destination.lake.bucket_url", str)
    if given:
        return given if "://" in given else Path(given).resolve().as_uri()
    home = Path(os.environ.get("GRIDHOUSE_HOME") or PROJECT_ROOT / ".gridhouse")
    return (home / "lake").resolve().as_uri()


def _filesystem(url: str) -> tuple[Any, str]:
    """An fsspec filesystem and the root path inside it (credentials as dlt resolves them)."""
    from dlt.common.storages.configuration import FilesystemConfiguration
    from dlt.common.storages.fsspec_filesystem import fsspec_from_config

    if url.startswith("file://"):
        import fsspec

        return fsspec.filesystem("file"), url.removeprefix("file://")
    from dlt.common.configuration.resolve import resolve_configuration

    # the credentials of [destination.lake] (secrets.toml, env), as the loader's destination resolves them
    config = resolve_configuration(
        FilesystemConfiguration(), sections=("destination", "lake"), explicit_value={"bucket_url": url}
    )
    fs, root = fsspec_from_config(config)
    return fs, root


def read_table(url: str, table: str, schema: pa.Schema | None = None) -> pa.Table:
    """Every parquet file of one lake table (partition folders included), as one Arrow table; an empty
    table (of `schema`) when nothing was written yet."""
    import pyarrow.dataset as ds

    fs, root = _filesystem(url)
    folder = f"{root.rstrip('/')}/{DATASET}/{table}"
    files = [f for f in fs.find(folder) if f.endswith(".parquet")] if fs.exists(folder) else []
    if not files:
        return schema.empty_table() if schema is not None else pa.table({})
    return ds.dataset(files, format="parquet", filesystem=fs, partitioning="hive").to_table()


def finished_loads(url: str) -> pa.Table:
    log = read_table(url, LOG, LOG_SCHEMA)
    return log.filter(pc.equal(log["status"], "finished")) if log.num_rows else log


def file_memory(url: str) -> Memory:
    """The digests of the files the finished loads read, the newest load's per file."""
    memory = Memory()
    ended = set(finished_loads(url)["loaded_at"].to_pylist())
    files = read_table(url, FILES, FILES_SCHEMA)
    newest: dict[str, tuple[datetime, str]] = {}
    for row in files.select(["source_file", "digest", "loaded_at"]).to_pylist():
        if (
            row["loaded_at"] in ended
            and row["loaded_at"] >= newest.get(row["source_file"], (row["loaded_at"],))[0]
        ):
            newest[row["source_file"]] = (row["loaded_at"], row["digest"])
    memory.digests = {name: digest for name, (_, digest) in newest.items()}
    return memory


def time_zones(url: str) -> dict[str, str]:
    """device_id -> time zone of the registry rows the lake holds (newest load wins)."""
    held = read_table(url, "devices")
    if not held.num_rows:
        return {}
    rows = held.select(["device_id", "timezone", "_loaded_at"]).to_pylist()
    rows.sort(key=lambda r: r["_loaded_at"])
    return {r["device_id"]: r["timezone"] or DEFAULT_TIME_ZONE for r in rows}


def local_days(table: pa.Table, zones: dict[str, str]) -> np.ndarray:
    """Each reading's local calendar day in its home's time zone, as days since 1970-01-01."""
    ids = table["device_id"].to_pylist()
    zone_of = np.array([zones.get(i, DEFAULT_TIME_ZONE) for i in ids], dtype=object)
    days = np.zeros(table.num_rows, dtype=np.int32)
    measured = table["measured_at"]
    for zone in set(zone_of.tolist()):
        rows = np.flatnonzero(zone_of == zone)
        local = pc.local_timestamp(pc.take(measured, pa.array(rows)).cast(pa.timestamp("us", tz=zone)))
        days[rows] = pc.cast(pc.cast(local, pa.date32()), pa.int32()).to_numpy(zero_copy_only=False)
    return days


@contextlib.contextmanager
def lake_lock(url: str) -> Iterator[None]:
    """Loads into one lake take turns (on this machine): a lock file under GRIDHOUSE_HOME."""
    home = Path(os.environ.get("GRIDHOUSE_HOME") or PROJECT_ROOT / ".gridhouse")
    home.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(url.encode()).hexdigest()[:12]
    with (home / f"lake-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_lake(
    path: Path | str,
    *,
    url: str | None = None,
    full_refresh: bool = False,
    on_file: Callable[[FileReport], None] | None = None,
    planned: list[Any] | None = None,
) -> LoadReport:
    """Load a devices folder into the lake; returns per file read / loaded / quarantined."""
    import time

    import dlt

    started = time.perf_counter()
    url = url or lake_url()
    plan = devices.plan(path) if planned is None else planned
    reports: list[FileReport] = []
    day_of_load: dict[str, str] = {}  # dlt load id -> the local day of the readings it holds

    def partition(schema: str, table: str, load_id: str, file_id: str, ext: str) -> str:
        day = day_of_load.get(load_id) if table == "readings" else None
        return f"local_day={day}/" if day else ""

    destination = dlt.destinations.filesystem(
        bucket_url=url,
        destination_name="lake",
        layout="{table_name}/{partition}{load_id}.{file_id}.{ext}",
        extra_placeholders={"partition": partition},
    )
    home = Path(os.environ.get("GRIDHOUSE_HOME") or PROJECT_ROOT / ".gridhouse")
    with lake_lock(url):
        pipeline = dlt.pipeline(
            pipeline_name="gridhouse_lake_devices",
            destination=destination,
            dataset_name=DATASET,
            pipelines_dir=str(home / "dlt" / ("lake-" + hashlib.sha1(url.encode()).hexdigest()[:12])),
        )
        if pipeline.has_pending_data:  # a load that died: its rows are valid, not in the log (above)
            pipeline.drop_pending_packages()
        try:
            log = finished_loads(url)
            memory = file_memory(url)
            zones = time_zones(url)
        except OSError as exc:
            raise GridhouseError(
                f"the lake at {url} cannot be read: {exc}; check the URL and its credentials"
            ) from exc
        newest = max(log["loaded_at"].to_pylist(), default=None)
        loaded_at = datetime.now(UTC)
        if newest is not None and loaded_at <= newest:
            loaded_at = newest + timedelta(microseconds=1)

        def extract(tables: list[pa.Table], name: str, day: str | None = None) -> None:
            info = pipeline.extract(
                dlt.resource(tables, name=name, table_name=name, write_disposition="append"),
                loader_file_format="parquet",
            )
            if day is not None:
                day_of_load[info.loads_ids[-1]] = day

        pending: dict[int, list[pa.Table]] = {}
        others: dict[str, list[pa.Table]] = {}

        def flush(day: int) -> None:
            extract(pending.pop(day), "readings", str(np.datetime64(int(day), "D")))

        for item in walk("devices", plan, reports, full_refresh, memory, on_file, loaded_at):
            table, name = item.data, item.meta.hints["table_name"]
            if name in ("readings", "readings_late"):  # the registry came first (devices.plan)
                days = local_days(table, zones)
                for day in np.unique(days):
                    part = table.filter(pa.array(days == day))
                    pending.setdefault(int(day), []).append(part)
                    if sum(t.num_rows for t in pending[int(day)]) >= DAY_BATCH_ROWS:
                        flush(int(day))
            else:
                if name == "devices":
                    for r in table.select(["device_id", "timezone"]).to_pylist():
                        zones[r["device_id"]] = r["timezone"] or DEFAULT_TIME_ZONE
                others.setdefault(name, []).append(table)
        for day in list(pending):
            flush(day)
        for name, tables in others.items():
            extract(tables, name)
        seconds = {"prepare": time.perf_counter() - started}
        step = time.perf_counter()
        try:
            pipeline.normalize()
            pipeline.load()
        except Exception as exc:
            raise GridhouseError(f"devices: writing to the lake at {url} failed: {_first_line(exc)}") from exc
        seconds["load"] = time.perf_counter() - step
        report = LoadReport("devices", reports, seconds)
        # The log row last, with the file memory: the commit point of this load.
        log_row = {
            "loaded_at": loaded_at, "finished_at": datetime.now(UTC), "status": "finished",
            "files": len(reports), "read": report.read, "loaded": report.loaded, "corrected": 0,
            "quarantined": report.quarantined, "recovers": None,
        }  # fmt: skip
        files = [
            {"source_file": n, "digest": d, "loaded_at": loaded_at, "read": r.read, "loaded": r.loaded,
             "quarantined": r.quarantined}
            for n, (d, r) in memory.files.items()
        ]  # fmt: skip
        tables = {LOG: pa.Table.from_pylist([log_row], LOG_SCHEMA)}
        if files:
            tables[FILES] = pa.Table.from_pylist(files, FILES_SCHEMA)
        for name, table in tables.items():
            pipeline.extract(
                dlt.resource([table], name=name, table_name=name, write_disposition="append"),
                loader_file_format="parquet",
            )
        pipeline.normalize()
        pipeline.load()
    return report


def _first_line(exc: BaseException) -> str:
    cause = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


def load_command(args: Any) -> int:
    """`gridhouse load devices PATH --to lake`: load, then print the report as the PostgreSQL path does."""
    from ingest.summary import print_load_reports

    if args.source != "devices":
        raise GridhouseError(
            f"--to lake loads devices only (the Spark tier's vendor, docs/spark.md), not {args.source}: "
            "drop --to lake to load it into PostgreSQL"
        )
    planned = devices.plan(args.path)  # a wrong path fails here, before the lake is touched
    report = load_lake(args.path, full_refresh=args.full_refresh, planned=planned)
    print_load_reports([report])
    return 1 if report.failed else 0
