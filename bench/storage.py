"""Storage: on-disk bytes per battery telemetry point (table + indexes) vs raw JSON bytes per point.

    python -m bench.storage [--scale S] [--no-timescale]

Plain PostgreSQL: marts.battery_telemetry of the HISTORY_DAYS warehouse, split into table (heap, TOAST,
maps) and indexes; goal: indexes at most 0.30 of the table. TimescaleDB: the PGlite TimescaleDB build
(deploy/pglite, in memory; no COPY there, so the loader inserts rows and uses one connection) loads a
TIMESCALE_DAYS battery fleet, builds the battery models, compresses every chunk (what the compression
policy does once a chunk is older than `battery_compress_after`) and measures the hypertable; goal: at
most 0.10 of the raw JSON. The raw JSON figure is the vendor's telemetry files over the points in them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from bench.harness import HISTORY_DAYS, Result, Warehouse, Workspace, forget_loads, load_tree
from ingest.db import PROJECT_ROOT, Connection, _free_port, _port_is_free

PGLITE = PROJECT_ROOT / "deploy" / "pglite"
# A chunk (battery_chunk_interval, 1 day) must hold enough series for its fixed pages (indexes, the
# emptied uncompressed chunk) not to dominate: 6 batteries x 3 days, about 330,000 points, at SCALE=1.
TIMESCALE_DAYS = 3
TIMESCALE_BATTERIES = 6
BATTERY_SELECT = ["--select", "stg_batteries__assets+", "stg_batteries__telemetry+"]


def raw_json_bytes_per_point(tree: Path) -> tuple[float, int]:
    manifest = json.loads((tree / "manifest.json").read_text())
    points = manifest["counts"]["batteries"]["points"]
    size = sum(f.stat().st_size for f in (tree / "batteries" / "telemetry").glob("*.json"))
    return size / points, points


def postgres(ws: Workspace) -> list[Result]:
    return postgres_rows(ws.warehouse(HISTORY_DAYS))


def postgres_rows(w: Warehouse) -> list[Result]:
    """The plain-PostgreSQL rows for a built warehouse (battery_telemetry and the tree it came from)."""
    with w.conn.connect(autocommit=True) as db:
        db.execute("vacuum analyze marts.battery_telemetry")
        rows, table, indexes = db.execute(
            "select count(*), pg_table_size('marts.battery_telemetry'), "
            "pg_indexes_size('marts.battery_telemetry') from marts.battery_telemetry"
        ).fetchone()
        index_sizes = dict(
            db.execute(
                "select indexrelid::regclass::text, pg_relation_size(indexrelid) from pg_index "
                "where indrelid = 'marts.battery_telemetry'::regclass"
            ).fetchall()
        )
    raw, points = raw_json_bytes_per_point(w.tree)
    detail = {
        "rows": rows,
        "raw_points": points,
        "table_bytes": table,
        "index_bytes": indexes,
        "indexes": index_sizes,
        "table_bytes_per_row": round(table / rows, 2),
        "index_bytes_per_row": round(indexes / rows, 2),
    }
    return [
        Result(
            "storage",
            f"PostgreSQL battery_telemetry (table + indexes) vs raw JSON, {w.days} days",
            (table + indexes) / rows,
            raw,
            "B/point",
            detail=detail,
        ),
        Result(
            "storage",
            "PostgreSQL battery_telemetry indexes vs table",
            indexes / rows,
            table / rows,
            "B/point",
            goal="<= 0.30",
            detail=detail,
        ),
    ]


@contextlib.contextmanager
def pglite_server(log: Path) -> Iterator[Connection]:
    """The PGlite TimescaleDB build on a local port (GRIDHOUSE_PGLITE_PORT or a free one), in memory."""
    npx = shutil.which("npx")
    if npx is None or not (PGLITE / "node_modules" / "@electric-sql" / "pglite-socket").exists():
        raise RuntimeError(f"the PGlite TimescaleDB build is not installed: cd {PGLITE} && npm ci")
    port = int(os.environ.get("GRIDHOUSE_PGLITE_PORT") or _free_port())
    with log.open("w") as out:
        process = subprocess.Popen(
            [npx, "pglite-server", "-d", "memory://", "-p", str(port), "-m", "4",
             "-e", "@electric-sql/pglite/timescaledb:timescaledb"],
            cwd=PGLITE, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while "listening" not in log.read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pglite-server did not start: {log.read_text()[-500:]}")
                time.sleep(0.3)
            conn = Connection("127.0.0.1", port, "postgres", "pglite", "template1", sslmode="disable")
            with conn.connect(autocommit=True) as db:
                db.execute("create extension if not exists timescaledb")
            yield conn
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # npx and the node server it started
            process.wait(timeout=30)
            deadline = time.monotonic() + 20
            while not _port_is_free(port) and time.monotonic() < deadline:
                time.sleep(0.2)


@contextlib.contextmanager
def one_connection_loader() -> Iterator[None]:
    """What a server without COPY and with one connection needs (README, "Point it at your own database")."""
    wanted = {"GRIDHOUSE_LOADER_FORMAT": "insert_values", "LOAD__WORKERS": "1", "GRIDHOUSE_DBT_THREADS": "1"}
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def timescale(ws: Workspace, days: int = TIMESCALE_DAYS) -> list[Result]:
    from ingest.build import run_dbt

    batteries = max(1, round(TIMESCALE_BATTERIES * ws.scale))
    tree = ws.tree(f"timescale{days}", days=days, families="batteries", batteries=batteries)
    with pglite_server(ws.root / "pglite.log") as conn, one_connection_loader():
        forget_loads(conn)
        loaded, load_s = load_tree(conn, tree, ["batteries"])
        with conn.connect(autocommit=True) as db:
            # PGlite serves every connection from one session, so dlt's search_path outlives the load.
            db.execute('set search_path = "$user", public')
        result = run_dbt(conn, ["build", *BATTERY_SELECT, "--exclude", "test_type:data"], quiet=True)
        if not result.success:
            raise SystemExit(f"dbt build on PGlite TimescaleDB failed: {dict(result.statuses)}")
        with conn.connect(autocommit=True) as db:
            uncompressed = db.execute("select hypertable_size('marts.battery_telemetry')").fetchone()[0]
            chunks = db.execute(
                "select count(compress_chunk(c, if_not_compressed => true)) "
                "from show_chunks('marts.battery_telemetry') as c"
            ).fetchone()[0]
            stats = db.execute(
                "select sum(before_compression_total_bytes), sum(after_compression_table_bytes), "
                "sum(after_compression_index_bytes), sum(after_compression_toast_bytes), "
                "sum(after_compression_total_bytes) from chunk_compression_stats('marts.battery_telemetry')"
            ).fetchone()
            rows, size = db.execute(
                "select count(*), hypertable_size('marts.battery_telemetry') from marts.battery_telemetry"
            ).fetchone()
    raw, points = raw_json_bytes_per_point(tree)
    return [
        Result(
            "storage",
            f"TimescaleDB battery_telemetry compressed vs raw JSON, {days} days (PGlite)",
            size / rows,
            raw,
            "B/point",
            goal="<= 0.10",
            detail={
                "rows": rows,
                "raw_points": points,
                "chunks_compressed": chunks,
                "compression_stats_bytes": dict(
                    zip(
                        ("before_total", "after_table", "after_index", "after_toast", "after_total"),
                        stats,
                        strict=True,
                    )
                ),
                "hypertable_bytes": size,
                "uncompressed_bytes_per_row": round(uncompressed / rows, 2),
                "batteries": batteries,
                "load_s": round(load_s, 1),
                "loaded": loaded,
            },
        )
    ]


def run(ws: Workspace, with_timescale: bool = True) -> list[Result]:
    results = postgres(ws)
    if with_timescale:
        results += timescale(ws)
    return results


if __name__ == "__main__":
    from bench.harness import machine, render, write_json
    from bench.steps import scale_arg

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale_arg(parser)
    parser.add_argument("--no-timescale", action="store_true", help="plain PostgreSQL only")
    parser.add_argument("--timescale-only", action="store_true", help="the PGlite TimescaleDB tier only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with Workspace(args.scale) as ws:
        results = timescale(ws) if args.timescale_only else run(ws, with_timescale=not args.no_timescale)
    render(results, caption=f"scale {args.scale}, {machine()}")
    if args.json:
        write_json(results, args.json, scale=args.scale, machine=machine())
