"""Storage: on-disk bytes per battery telemetry point (table + indexes) vs raw JSON bytes per point.

    python -m bench.storage [--scale S] [--no-timescale]

marts.battery_telemetry is a view; its points are stored in STORE (values as scaled integers, see
macros/timescale/scaled_values.sql), which is what is measured. Plain PostgreSQL: the store of the
HISTORY_DAYS warehouse, split into table (heap, TOAST, maps) and indexes; goal: indexes at most 0.30 of
the table. TimescaleDB: the PGlite TimescaleDB build (deploy/pglite, in memory; no COPY there, so the
loader inserts rows and uses one connection) loads a TIMESCALE_DAYS battery fleet, builds
battery_telemetry, compresses every chunk (what the compression policy does once a chunk is older than
`battery_compress_after`) and measures the hypertable, with the bytes of each compressed column; goal:
at most 0.10 of the raw JSON. The raw JSON figure is the vendor's telemetry files over the points in them.
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
from typing import Any

from bench.harness import (
    HISTORY_DAYS,
    Result,
    Warehouse,
    Workspace,
    environment_restored,
    forget_loads,
    load_tree,
)
from ingest.db import PROJECT_ROOT, Connection, _free_port, _port_is_free

PGLITE = PROJECT_ROOT / "deploy" / "pglite"
STORE = "intermediate.int_batteries__telemetry_scaled"
# A compressed chunk (battery_chunk_interval, 7 days) has about 130 kB of fixed pages (heap and TOAST
# maps, indexes, the emptied uncompressed chunk): a week of 9 batteries, about 820,000 points, keeps them
# near a sixth of the bytes (TimescaleDB's week chunks start on Thursdays, so the bench's Monday-to-Sunday
# week is two partly filled chunks). A fixed fleet, not scaled by SCALE: PGlite takes rows one INSERT
# batch at a time, so a larger one would only lengthen the run.
TIMESCALE_DAYS = 7
TIMESCALE_BATTERIES = 9
# The storage step builds only what battery_telemetry needs; the TimescaleDB tests build the whole chain.
STORAGE_SELECT = ["--select", "+battery_telemetry"]


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
        db.execute(f"vacuum analyze {STORE}")
        rows, table, indexes = db.execute(
            f"select count(*), pg_table_size('{STORE}'), pg_indexes_size('{STORE}') from {STORE}"
        ).fetchone()
        index_sizes = dict(
            db.execute(
                "select indexrelid::regclass::text, pg_relation_size(indexrelid) from pg_index "
                f"where indrelid = '{STORE}'::regclass"
            ).fetchall()
        )
    raw, points = raw_json_bytes_per_point(w.tree)
    detail = {
        "relation": STORE,
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
    with environment_restored(*wanted):
        os.environ.update(wanted)
        yield


def compressed_column_bytes(db: Any, hypertable: str) -> dict[str, int]:
    """Bytes of each column of the hypertable's compressed chunks (pg_column_size: as stored, TOAST
    included, without page and tuple overhead)."""
    chunks = [
        name
        for (name,) in db.execute(
            "select format('%%I.%%I', compressed.schema_name, compressed.table_name) "
            "from _timescaledb_catalog.chunk as chunk "
            "join _timescaledb_catalog.chunk as compressed on compressed.id = chunk.compressed_chunk_id "
            "where chunk.hypertable_id = (select id from _timescaledb_catalog.hypertable "
            "where format('%%I.%%I', schema_name, table_name)::regclass = %s::regclass)",
            (hypertable,),
        ).fetchall()
    ]
    if not chunks:
        return {}
    columns = [
        name
        for (name,) in db.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 "
            "and not attisdropped order by attnum",
            (chunks[0],),
        ).fetchall()
    ]
    sums = ", ".join(f'coalesce(sum(pg_column_size("{c}")), 0)' for c in columns)
    totals = [0] * len(columns)
    for chunk in chunks:
        for i, size in enumerate(db.execute(f"select {sums} from {chunk}").fetchone()):
            totals[i] += int(size)
    return dict(zip(columns, totals, strict=True))


def timescale(ws: Workspace, days: int = TIMESCALE_DAYS) -> list[Result]:
    from ingest.build import run_dbt

    batteries = TIMESCALE_BATTERIES
    tree = ws.tree(f"timescale{days}", days=days, families="batteries", batteries=batteries)
    with pglite_server(ws.root / "pglite.log") as conn, one_connection_loader():
        forget_loads(conn)
        loaded, load_s = load_tree(conn, tree, ["batteries"])
        with conn.connect(autocommit=True) as db:
            # PGlite serves every connection from one session, so dlt's search_path outlives the load.
            db.execute('set search_path = "$user", public')
        started = time.perf_counter()
        result = run_dbt(conn, ["build", *STORAGE_SELECT, "--exclude", "test_type:data"], quiet=True)
        build_s = time.perf_counter() - started
        if not result.success:
            raise SystemExit(f"dbt build on PGlite TimescaleDB failed: {dict(result.statuses)}")
        with conn.connect(autocommit=True) as db:
            uncompressed = db.execute(f"select hypertable_size('{STORE}')").fetchone()[0]
            chunks = db.execute(
                f"select count(compress_chunk(c, if_not_compressed => true)) from show_chunks('{STORE}') as c"
            ).fetchone()[0]
            stats = db.execute(
                "select sum(before_compression_total_bytes), sum(after_compression_table_bytes), "
                "sum(after_compression_index_bytes), sum(after_compression_toast_bytes), "
                f"sum(after_compression_total_bytes) from chunk_compression_stats('{STORE}')"
            ).fetchone()
            rows, size = db.execute(
                f"select count(*), hypertable_size('{STORE}') from marts.battery_telemetry"
            ).fetchone()
            columns = compressed_column_bytes(db, STORE)
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
                "relation": STORE,
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
                # The compressed columns' own bytes per point; the rest of hypertable_bytes is pages:
                # tuple headers, free space, the maps, indexes and the emptied uncompressed chunks.
                "column_bytes_per_point": {c: round(b / rows, 3) for c, b in columns.items()},
                "uncompressed_bytes_per_row": round(uncompressed / rows, 2),
                "batteries": batteries,
                "load_s": round(load_s, 1),
                "build_s": round(build_s, 1),
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
