"""`gridhouse sync`: one cycle loads every configured vendor, then builds only what the new loads feed.

- Where each vendor's data is: `path` under `[sources.<vendor>]` in `.dlt/config.toml` of the folder the
  command runs in (a folder, a file or a REST API base URL, as `gridhouse load` takes it), or the
  environment variable dlt would read for it, `SOURCES__<VENDOR>__PATH` (it wins, as in dlt). A vendor
  with neither is skipped with one line saying so.
- A folder whose every file has the size, mtime and ctime a finished load recorded for it
  (raw_<vendor>._gridhouse_files, ingest/memory.py) has nothing new: it is not loaded, and no file is
  opened. Any other vendor is loaded by the loader (same lock, same report as `gridhouse load`).
- What to build is decided from the database, not from this cycle: a vendor whose raw tables hold rows of
  ended loads later than the newest load a successful sync build took in (raw_<vendor>._gridhouse_builds)
  is built with `dbt build --select source:<vendor>+` (every model, snapshot, alert and data_quality view
  downstream of its raw tables, with their data tests; not dbt's unit tests). So a build that failed, or
  a `gridhouse load` run by hand, is built by the next cycle. Nothing new: dbt is not even imported.
- Cycles take turns on a database (advisory lock "gridhouse sync"): a cycle that finds another running
  says so and does nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.build import DBT_PROJECT_DIR  # its module imports no dbt: that happens inside build()
from ingest.db import Connection
from ingest.errors import GridhouseError
from ingest.filestat import FILES, file_stat, matching_files
from ingest.loads import TABLE as LOADS

if TYPE_CHECKING:
    from ingest.build import BuildResult
    from ingest.reports import LoadReport

# As ingest.pipeline.VENDORS names them (tests/test_sync.py checks), without importing dlt.
VENDOR_NAMES = ("batteries", "meters", "circuits", "devices")
BUILDS = "_gridhouse_builds"
SYNC_LOCK = "gridhouse sync"

Echo = Callable[[str], None]


# -- configuration ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Configured:
    vendor: str
    location: str  # a folder, a file or a URL
    origin: str  # where it was set: the environment variable or the file

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))


def env_variable(vendor: str) -> str:
    """The variable dlt reads for `sources.<vendor>.path`."""
    return f"SOURCES__{vendor.upper()}__PATH"


def configured_sources(
    cwd: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, Configured | None]:
    """Each vendor's configured location, or None; as dlt resolves `sources.<vendor>.path`: the
    environment first, then .dlt/secrets.toml, then .dlt/config.toml of the working folder."""
    env = dict(os.environ) if env is None else env
    folder = (cwd or Path.cwd()) / ".dlt"
    files: list[tuple[Path, dict[str, Any]]] = []
    for name in ("secrets.toml", "config.toml"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            files.append((path, tomllib.loads(path.read_text(encoding="utf-8"))))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise GridhouseError(f"{path} is not valid TOML ({exc}): fix the file") from None
    found: dict[str, Configured | None] = {}
    for vendor in VENDOR_NAMES:
        found[vendor] = None
        if env.get(env_variable(vendor)):
            found[vendor] = Configured(vendor, env[env_variable(vendor)], env_variable(vendor))
            continue
        for path, data in files:
            section = data.get("sources", {}).get(vendor, {})
            value = section.get("path") if isinstance(section, dict) else None
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise GridhouseError(
                    f"{path}: [sources.{vendor}] path = {value!r} is not text: give the vendor's folder or URL "
                    'as a string, e.g. path = "/srv/vendors/' + vendor + '"'
                )
            found[vendor] = Configured(vendor, value, f"{path} [sources.{vendor}]")
            break
    return found


def not_configured_line(vendor: str) -> str:
    return (
        f"{vendor}: not configured (path under [sources.{vendor}] in .dlt/config.toml, or "
        f"{env_variable(vendor)}): skipped"
    )


# -- durations ----------------------------------------------------------------------------------------
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_every(text: str) -> int:
    """Seconds of a duration such as 30s, 15m, 1h or 1h30m; one line naming it when it is not one."""
    match = _DURATION.fullmatch(text.strip().lower())
    seconds = 0
    if match and text.strip():
        hours, minutes, secs = (int(g or 0) for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds <= 0:
        raise GridhouseError(
            f"--every {text!r} is not a duration: give a number with s, m or h, e.g. 30s, 15m, 1h or 1h30m"
        )
    return seconds


# -- has a folder anything new? -----------------------------------------------------------------------
def listed_files(vendor: str, root: Path) -> list[tuple[str, Path]]:
    """(name the loader records, path) of the files the vendor's plan() reads from a folder or file, as
    ingest/sources/<vendor>.py lists them (tests/test_sync.py compares the two), without importing them."""
    if vendor == "batteries":
        return [
            *_find(root / "assets", ("*.json",), "assets"),
            *_find(root / "telemetry", ("*.json",), "telemetry"),
        ]
    label = root.name if root.is_dir() else vendor
    patterns = {"meters": ("*.json",), "circuits": ("*.sql", "*.json"), "devices": ("*.json", "*.jsonl")}[
        vendor
    ]
    if root.is_file():
        return _find(root, ("*",), label)
    found = _find(root, patterns, label)
    if vendor == "meters" and (root / "tenants.csv").is_file():
        found += _find(root / "tenants.csv", ("*",), root.name)
    return found


def _find(root: Path, patterns: tuple[str, ...], label: str) -> list[tuple[str, Path]]:
    return [found for pattern in patterns for found in matching_files(root, pattern, label)]


def unchanged_files(db: Any, vendor: str, location: str) -> int | None:
    """How many files the folder (or file) holds when each has the stat (size, mtime, ctime) a finished load
    recorded for it; None when any may be new or changed (then the loader reads the vendor, digesting only those)."""
    root = Path(location)
    if not root.exists():
        return None  # the loader names the missing folder
    listed = listed_files(vendor, root)
    if not listed or not _has_column(db, f"raw_{vendor}", FILES, "ctime_ns"):
        return None  # never loaded, or memory from before ctime was kept: the loader adds it
    from psycopg import sql

    known = {
        name: tuple(stat)
        for name, *stat in db.execute(
            sql.SQL(
                "select f.source_file, f.size_bytes, f.mtime_ns, f.ctime_ns from {schema}.{files} as f "
                "inner join {schema}.{log} as l on l.loaded_at = f.loaded_at and l.status = 'finished' "
                "where f.source_file = any(%s)"
            ).format(
                schema=sql.Identifier(f"raw_{vendor}"),
                files=sql.Identifier(FILES),
                log=sql.Identifier(LOADS),
            ),
            ([name for name, _ in listed],),
        )
    }
    for name, path in listed:
        stat = file_stat(path)
        if stat is None or known.get(name) != stat:
            return None
    return len(listed)


def _has_column(db: Any, schema: str, table: str, column: str) -> bool:
    return db.execute(
        "select exists (select from information_schema.columns "
        "where table_schema = %s and table_name = %s and column_name = %s)",
        (schema, table, column),
    ).fetchone()[0]


def _exists(db: Any, schema: str, table: str) -> bool:
    return db.execute("select to_regclass(%s) is not null", (f'"{schema}"."{table}"',)).fetchone()[0]


# -- what needs a build -------------------------------------------------------------------------------
def ensure_build_log(db: Any, vendor: str) -> None:
    from psycopg import sql

    db.execute(
        sql.SQL(
            "create table if not exists {}.{} ("
            "started_at timestamp with time zone primary key, "
            "finished_at timestamp with time zone, "
            "built_through timestamp with time zone not null, "
            "status varchar not null, "
            "selection varchar not null, "
            "nodes integer)"
        ).format(sql.Identifier(f"raw_{vendor}"), sql.Identifier(BUILDS))
    )


def pending_build(db: Any, vendor: str) -> datetime | None:
    """The newest ended load of `vendor` when its raw tables hold rows of ended loads later than the newest
    load a successful sync build took in (rows new or corrected since); else None."""
    from psycopg import sql

    schema = f"raw_{vendor}"
    if not _exists(db, schema, LOADS):
        return None
    ident = sql.Identifier(schema)
    built = sql.SQL("null::timestamptz")  # never built by a sync
    if _exists(db, schema, BUILDS):
        built = sql.SQL("(select max(built_through) from {}.{} where status = 'success')").format(
            ident, sql.Identifier(BUILDS)
        )
    built_through, newest = db.execute(
        sql.SQL(
            "select {built}, (select max(loaded_at) from {schema}.{loads} where status <> 'running')"
        ).format(built=built, schema=ident, loads=sql.Identifier(LOADS))
    ).fetchone()
    if newest is None or (built_through is not None and newest <= built_through):
        return None
    # every table a load stamps (the raw tables, quarantine; their _late and _replaced copies change no answer)
    tables = [
        row[0]
        for row in db.execute(
            "select table_name from information_schema.columns where table_schema = %s and column_name = "
            "'_loaded_at' order by table_name",
            (schema,),
        )
    ]
    for table in tables:
        found = db.execute(
            sql.SQL(
                "select exists (select from {}.{} where (%s::timestamptz is null or _loaded_at > %s) "
                "and _loaded_at <= %s)"
            ).format(ident, sql.Identifier(table)),
            (built_through, built_through, newest),
        ).fetchone()[0]
        if found:
            return newest
    return None


def dbt_target() -> Path:
    """Where dbt writes its manifest: DBT_TARGET_PATH (relative to the dbt project), else target/."""
    chosen = Path(os.environ.get("DBT_TARGET_PATH") or "target")
    return chosen if chosen.is_absolute() else DBT_PROJECT_DIR / chosen


def missing_inputs(db: Any, vendors: list[str]) -> list[str] | None:
    """The relations that the nodes downstream of these vendors' sources read from outside that selection
    (seeds, another vendor's models) and that the database lacks, by dbt's last manifest; None without a
    manifest. Only the build path reads it (a few MB of JSON)."""
    path = dbt_target() / "manifest.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text(encoding="utf-8"))
    children, parents, nodes = manifest["child_map"], manifest["parent_map"], manifest["nodes"]
    todo = [n for n in children if n.split(".")[0] == "source" and n.split(".")[2] in vendors]
    selected: set[str] = set()
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in selected:
                selected.add(child)
                todo.append(child)
    outside = {
        p
        for n in selected
        if n.split(".")[0] in ("model", "snapshot")
        for p in parents.get(n, [])
        if p not in selected and p.split(".")[0] in ("model", "seed", "snapshot") and p in nodes
    }
    wanted = {
        (nodes[p]["schema"], nodes[p].get("alias") or nodes[p]["name"])
        for p in outside
        if nodes[p].get("config", {}).get("materialized") != "ephemeral"
    }
    if not wanted:
        return []
    held = set(
        db.execute(
            "select table_schema, table_name from information_schema.tables "
            "where (table_schema, table_name) in (select * from unnest(%s::text[], %s::text[]))",
            ([s for s, _ in wanted], [n for _, n in wanted]),
        ).fetchall()
    )
    return sorted(f"{s}.{n}" for s, n in wanted - held)


# -- one cycle ----------------------------------------------------------------------------------------
@dataclass
class Cycle:
    """What one sync did: per vendor a line, the loads, and the build (None: no dbt run)."""

    lines: list[str] = field(default_factory=list)
    loaded: list[LoadReport] = field(default_factory=list)
    built: list[str] = field(default_factory=list)  # vendors built
    selection: list[str] = field(default_factory=list)  # the dbt arguments that chose the nodes
    build: BuildResult | None = None
    errors: list[str] = field(default_factory=list)  # one line each: inputs a user must fix
    skipped: bool = False  # another sync held the lock
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        if (self.build is not None and not self.build.success) or any(r.failed for r in self.loaded):
            return 1
        return 0


@contextlib.contextmanager
def sync_lock(conn: Connection) -> Iterator[Any | None]:
    """The cycle's connection holding the sync lock, or None when another sync holds it."""
    with conn.connect(autocommit=True) as db:
        if not db.execute("select pg_try_advisory_lock(hashtextextended(%s, 0))", (SYNC_LOCK,)).fetchone()[0]:
            yield None
            return
        try:
            yield db
        finally:
            db.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (SYNC_LOCK,))


def run_cycle(
    conn: Connection, sources: dict[str, Configured | None], echo: Echo = print, reports: bool = True
) -> Cycle:
    """Load every configured vendor that may have something new, then build what the new loads feed;
    `reports`: print the loads' table as `gridhouse load` does."""
    started = time.perf_counter()
    cycle = Cycle()

    def say(line: str) -> None:
        cycle.lines.append(line)
        echo(line)

    with sync_lock(conn) as db:
        if db is None:
            say("another gridhouse sync is running on this database: this cycle does nothing")
            cycle.skipped = True
            return cycle
        for vendor in VENDOR_NAMES:
            source = sources.get(vendor)
            if source is None:
                say(not_configured_line(vendor))
                continue
            if not source.is_url:
                unchanged = unchanged_files(db, vendor, source.location)
                if unchanged is not None:
                    say(f"{vendor}: nothing new in {source.location} ({unchanged} files unchanged)")
                    continue
            try:
                cycle.loaded.append(_load(vendor, source, conn))
            except GridhouseError as exc:
                cycle.errors.append(str(exc))
                say(f"{vendor}: not loaded: {str(exc).removeprefix(f'{vendor}: ')}")
                continue
            report = cycle.loaded[-1]
            say(
                f"{vendor}: loaded {source.location}: {len(report.files) - report.unchanged_files} of "
                f"{len(report.files)} files read, {report.loaded:,} records loaded, {report.corrected:,} "
                f"corrected, {report.quarantined:,} quarantined"
            )
        if cycle.loaded and reports:
            from ingest.summary import print_load_reports

            print_load_reports(cycle.loaded)
        pending = {v: through for v in VENDOR_NAMES if (through := pending_build(db, v)) is not None}
        if not pending:
            say("nothing new to build: dbt not run")
        else:
            _build(conn, db, pending, cycle, say)
    cycle.seconds = time.perf_counter() - started
    return cycle


def _load(vendor: str, source: Configured, conn: Connection) -> LoadReport:
    from ingest.pipeline import load
    from ingest.pipeline import vendor as chosen

    planned = chosen(vendor).plan(source.location)
    return load(vendor, source.location, conn, planned=planned)


def _build(conn: Connection, db: Any, pending: dict[str, datetime], cycle: Cycle, say: Echo) -> None:
    from ingest.build import build

    missing = missing_inputs(db, list(pending))
    if missing is None or missing:  # a warehouse never built (or not since the project grew): all of it
        cycle.selection = []
        why = (
            "no dbt manifest yet"
            if missing is None
            else f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} not built yet"
        )
        what = f"the whole project ({why})"
    else:
        cycle.selection = [
            "--select",
            *(f"source:{v}+" for v in pending),
            "--exclude-resource-type",
            "unit_test",
        ]
        what = " ".join(f"source:{v}+" for v in pending)
    for vendor in pending:
        ensure_build_log(db, vendor)
    (started_at,) = db.execute("select clock_timestamp()").fetchone()
    say(f"building {what}")
    result = None
    try:
        result = build(conn, cycle.selection, quiet=True)
    finally:
        status = "success" if result is not None and result.success else "failed"
        nodes = None if result is None else len(result.nodes)
        for vendor, through in pending.items():
            db.execute(
                f'insert into "raw_{vendor}"."{BUILDS}" (started_at, finished_at, built_through, status, '
                "selection, nodes) values (%s, clock_timestamp(), %s, %s, %s, %s)",
                (started_at, through, status, what, nodes),
            )
    cycle.build, cycle.built = result, list(pending)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(result.by_resource().items()))
    say(f"built {what}: {status}, {len(result.nodes)} dbt nodes ({kinds})")


# -- the loop -----------------------------------------------------------------------------------------
def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_every(
    seconds: int,
    cycle: Callable[[], int],
    echo: Echo = print,
    stop: threading.Event | None = None,
) -> int:
    """Run `cycle` every `seconds` (from the start of one to the start of the next; at once after one that
    took longer) until SIGTERM or Ctrl-C: while a cycle runs the first signal lets it finish, a second
    one interrupts it (the load log marks an interrupted load; the next one takes it up). A cycle that
    fails is one line; the loop goes on."""
    stop = stop or threading.Event()
    running = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if running.is_set() and stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        if running.is_set():
            echo(f"{signal.Signals(signum).name}: stopping after this cycle (again to interrupt it)")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.is_set():
            began = time.monotonic()
            running.set()
            try:
                code = cycle()
                if code:
                    echo(f"cycle ended with code {code}; next cycle in {seconds} s")
            except GridhouseError as exc:
                echo(f"cycle failed: {exc}; next cycle in {seconds} s")
            except Exception as exc:  # noqa: BLE001 - one line, and the schedule goes on
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else "(no message)"
                echo(f"cycle failed: {type(exc).__name__}: {first}; next cycle in {seconds} s")
            finally:
                running.clear()
            stop.wait(max(0.0, seconds - (time.monotonic() - began)))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    echo("stopped")
    return 0


def warehouse() -> Connection:
    """The database `gridhouse load` would use; the embedded server, when it answers, without the checks
    that `db.resolve()` makes on every command (pg_ctl status, roles): a cycle with nothing new is mostly
    start-up. A server that does not answer is started as `gridhouse load` would."""
    from ingest import db

    if db.user_connection() is None:
        server = db.EmbeddedServer.default()
        if (server.pgdata / "postmaster.pid").exists():
            conn = server.connection()
            try:
                with conn.connect():
                    return conn
            except GridhouseError:  # not running after all (a stale pid file): start it
                pass
    return db.resolve()


def command(every: str | None) -> int:
    """`gridhouse sync [--every DURATION]`: one cycle, or one every DURATION until stopped."""
    seconds = parse_every(every) if every is not None else None  # a bad duration stops here, exit 2

    def echo(line: str) -> None:
        print(f"{stamp()} {line}" if seconds is not None else line, flush=True)

    def one() -> int:
        # read each cycle: an edited .dlt/config.toml counts from the next cycle, without a restart
        return run_cycle(warehouse(), configured_sources(), echo).exit_code

    if seconds is None:
        return one()
    echo(f"sync every {seconds} s (SIGTERM or Ctrl-C stops it)")
    return run_every(seconds, one, echo)


def pipelines_command() -> int:
    """`gridhouse sync --pipelines`: the `dlt pipeline ... info` command of each vendor's dlt pipeline of
    this database (their folder is under GRIDHOUSE_HOME, one per database: ingest.pipeline.pipelines_dir)."""
    import shlex

    from ingest import db
    from ingest.pipeline import VENDORS, pipelines_dir

    folder = pipelines_dir(db.resolve(start=False))
    names = [f"gridhouse_{v}" for v in VENDORS if (folder / f"gridhouse_{v}").is_dir()]
    if not names:
        print(f"no dlt pipeline in {folder} yet: each vendor's first load makes its own", flush=True)
    for name in names:
        print(f"dlt pipeline --pipelines-dir {shlex.quote(str(folder))} {name} info", flush=True)
    return 0
