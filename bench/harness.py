"""What the benchmark steps share: a result row with its goal, the table and the JSON, the private server,
simulated fleets at a scale, and timed loads and dbt builds.

Every timing is reported next to a baseline measured in the same run: `Result.ratio` is value / baseline
and `Result.met` compares the ratio with the goal (`"<= 0.10"`, `">= 0.6"`); a row without a goal is
context (shown, never judged).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ingest.db import Connection, EmbeddedServer, _free_port

RESULTS_JSON = Path(__file__).resolve().parent / "results" / "bench.json"

# The fleet at SCALE=1 (simulator knobs); SCALE multiplies the entity counts, never the days.
BASE_FLEET = {
    "batteries": 2,
    "meters": 6,
    "tenants": 2,
    "organizations": 2,
    "locations_per_org": 2,
    "sensors_per_location": 2,
    "circuits_per_sensor": 4,
    "homes": 12,
}
SCALED = ("batteries", "organizations", "homes", "meters")
START = date(2024, 4, 1)
HISTORY_DAYS = 90  # the incremental step's full refresh and the growth step's 10x
BASE_DAYS = 9  # the growth and alert steps' 1x: a tenth of the history, same fleet
SEED = 3
FAMILIES = ("batteries", "meters", "circuits", "devices")

_GOAL = re.compile(r"^\s*(<=|>=)\s*([0-9.]+)\s*$")


@dataclass
class Result:
    """One row of the table: a figure, the baseline it is compared with, and the goal for their ratio."""

    step: str
    name: str
    value: float
    baseline: float
    unit: str
    goal: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.ratio is None:
            return None
        match = _GOAL.match(self.goal)
        if match is None:
            raise ValueError(f"goal {self.goal!r}: write '<= 0.1' or '>= 0.6'")
        limit = float(match[2])
        return self.ratio <= limit if match[1] == "<=" else self.ratio >= limit

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = None if self.ratio is None else round(self.ratio, 4)
        out["met"] = self.met
        return out


def _figure(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:,.1f} s"
    if unit == "ms":
        return f"{value:,.2f} ms"
    if unit.startswith("B/"):
        return f"{value:,.2f} {unit}"
    return f"{value:,.0f} {unit}"


def render(results: Iterable[Result], title: str = "gridhouse bench", caption: str = "") -> None:
    """One rich table: every figure, its baseline, the ratio, the goal and whether it is met."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption)
    for column, justify in (
        ("step", "left"),
        ("measure", "left"),
        ("value", "right"),
        ("baseline", "right"),
        ("ratio", "right"),
        ("goal", "right"),
        ("met", "center"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in results:
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: ""}[r.met]
        table.add_row(
            r.step,
            r.name,
            _figure(r.value, r.unit),
            _figure(r.baseline, r.unit),
            "" if r.ratio is None else f"{r.ratio:.3f}",
            r.goal or "",
            met,
        )
    Console(width=160).print(table)


def write_json(results: Iterable[Result], path: Path, **meta: Any) -> dict[str, Any]:
    document = {**meta, "rows": [r.to_dict() for r in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return document


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"cpus": os.cpu_count(), "load_avg_1m": round(load[0], 2), "python": platform.python_version()}


def fleet_knobs(scale: float) -> dict[str, int]:
    """The simulator's entity knobs at a scale (at least one of each)."""
    return {k: max(1, round(v * scale)) if k in SCALED else v for k, v in BASE_FLEET.items()}


def prepare_env(home: Path | None = None) -> Path:
    """GRIDHOUSE_HOME, DBT_TARGET_PATH and DBT_LOG_PATH for this run (kept where the caller set them)."""
    chosen = Path(os.environ.get("GRIDHOUSE_HOME") or home or tempfile.mkdtemp(prefix="gridhouse-bench-"))
    os.environ["GRIDHOUSE_HOME"] = str(chosen)
    os.environ.setdefault("DBT_TARGET_PATH", str(chosen / "dbt-target"))
    os.environ.setdefault("DBT_LOG_PATH", str(chosen / "dbt-logs"))
    for key in list(os.environ):  # the bench owns its server: never a database from the environment
        if key == "GRIDHOUSE_DSN" or key.startswith("PG"):
            del os.environ[key]
    return chosen


@contextlib.contextmanager
def environment_restored(*keys: str) -> Iterator[None]:
    """The block may set these environment variables: after it each is as it was (or absent again)."""
    saved = {k: os.environ.get(k) for k in keys}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


@dataclass
class Warehouse:
    """One database of the bench server with a simulated fleet loaded and built."""

    conn: Connection
    tree: Path
    days: int
    rows: int = 0  # raw rows loaded
    load_s: float = 0.0
    build_s: float = 0.0
    nodes: list[tuple[str, float]] = field(default_factory=list)  # slowest dbt nodes of the build

    @property
    def pipeline_s(self) -> float:
        return self.load_s + self.build_s


def slowest_nodes(limit: int = 12) -> list[tuple[str, float]]:
    """The slowest nodes of the last dbt invocation (run_results.json), for profiles in the JSON."""
    path = Path(os.environ.get("DBT_TARGET_PATH", "")) / "run_results.json"
    if not path.exists():
        return []
    results = json.loads(path.read_text())["results"]
    ranked = sorted(results, key=lambda r: -r["execution_time"])[:limit]
    return [(r["unique_id"].split(".", 2)[-1], round(r["execution_time"], 2)) for r in ranked]


def dbt_build(conn: Connection, *args: str) -> tuple[float, list[tuple[str, float]]]:
    """`dbt build` over the whole project (as `gridhouse build`), timed; fails loudly."""
    from ingest.build import build

    result, seconds = timed(lambda: build(conn, list(args), quiet=True))
    if not result.success:
        raise SystemExit(f"dbt build {' '.join(args)} failed on {conn.dbname}: {dict(result.statuses)}")
    return seconds, slowest_nodes()


def forget_loads(conn: Connection) -> None:
    """Drop the loader's local dlt state for a database that was made anew under a name used before."""
    import shutil

    from ingest.pipeline import pipelines_dir

    shutil.rmtree(pipelines_dir(conn), ignore_errors=True)


def load_tree(conn: Connection, tree: Path, families: Iterable[str] = FAMILIES) -> tuple[int, float]:
    """Load every family folder of a simulated tree with the project's loader; (rows loaded, seconds)."""
    from ingest.pipeline import load

    rows = 0
    started = time.perf_counter()
    for family in families:
        if (tree / family).exists():
            rows += load(family, tree / family, conn).loaded
    return rows, time.perf_counter() - started


class Workspace:
    """The bench's private embedded server, its simulated trees and warehouses, made once per run."""

    def __init__(self, scale: float = 1.0, root: Path | None = None, seed: int = SEED) -> None:
        self.scale = scale
        self.seed = seed
        # A home the bench made itself (no GRIDHOUSE_HOME, no root) is removed on close: a SCALE=2 run
        # leaves about 12 GB of databases and trees behind otherwise.
        self._owns_home = root is None and not os.environ.get("GRIDHOUSE_HOME")
        self.home = prepare_env(root)
        self.root = self.home / "bench"
        self.root.mkdir(parents=True, exist_ok=True)
        self._server: EmbeddedServer | None = None
        self._trees: dict[str, Path] = {}
        self._warehouses: dict[int, Warehouse] = {}

    # -- server and databases ---------------------------------------------------------------------
    @property
    def server(self) -> EmbeddedServer:
        if self._server is None:
            port = os.environ.get("GRIDHOUSE_EMBEDDED_PORT")
            self._server = EmbeddedServer(self.home / "server", port=int(port) if port else _free_port())
            self._server.start()
        return self._server

    def database(self, name: str) -> Connection:
        """A new, empty database on the bench server (replacing one of that name)."""
        base = self.server.connection()
        with Connection(base.host, base.port, base.user, base.password, "postgres").connect(
            autocommit=True
        ) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')
            admin.execute(f'create database "{name}"')
        conn = Connection(base.host, base.port, base.user, base.password, name, embedded=True)
        forget_loads(conn)
        return conn

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._owns_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- simulated trees --------------------------------------------------------------------------
    def tree(self, label: str, **knobs: Any) -> Path:
        """A simulated tree of the workspace's fleet (scale, seed) with these knobs, written once."""
        if label not in self._trees:
            import simulator

            out = self.root / "trees" / label
            simulator.simulate(out, seed=self.seed, **{**fleet_knobs(self.scale), "start": START, **knobs})
            self._trees[label] = out
        return self._trees[label]

    def history(self, days: int) -> Path:
        return self.tree(f"days{days}", days=days)

    def next_day(self, days: int) -> Path:
        """The day after a `days`-day history: the same assets, circuits and homes, one new UTC day
        (meters publish only around the DST days, so they have nothing new)."""
        return self.tree(
            f"day{days + 1}",
            start=START + timedelta(days=days),
            days=1,
            families="batteries,circuits,devices",
        )

    def days_before(self, n: int) -> Path:
        """The `n` UTC days before the history (it starts at START): the same assets, circuits and homes,
        older than everything a warehouse holds (meters cover the DST days of the start year whatever the
        window, so they have nothing new here either)."""
        return self.tree(
            f"before{n}",
            start=START - timedelta(days=n),
            days=n,
            families="batteries,circuits,devices",
        )

    # -- warehouses -------------------------------------------------------------------------------
    def warehouse(self, days: int) -> Warehouse:
        """`days` of the fleet loaded into a fresh database and built with `dbt build --full-refresh`."""
        if days not in self._warehouses:
            tree = self.history(days)
            conn = self.database(f"bench_{days}d")
            rows, load_s = load_tree(conn, tree)
            build_s, nodes = dbt_build(conn, "--full-refresh")
            self._warehouses[days] = Warehouse(conn, tree, days, rows, load_s, build_s, nodes)
        return self._warehouses[days]
