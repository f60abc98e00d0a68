"""dlt load of battery telemetry vs a plain COPY of the same rows into the same database.

    python -m bench.load_vs_copy [--devices N] [--series S] [--points P] [--runs R]

Writes a vendor-format telemetry tree (N devices x S series x P points) and starts one private server.
Then R times, alternating which goes first (client and server share this VM's 2 CPUs with whatever else
runs: one noisy run must not decide the ratio), each into a fresh database and after a checkpoint:
- the loader: the project's `load` (parse + checks + series marks, dlt extract / normalize / load);
- COPY: the same rows exactly as the loader landed them (the four data columns and the load metadata
  `_source_file`, `_loaded_at`, `_dlt_load_id`), from memory in COPY's binary format (the fastest plain
  COPY: nothing to parse), into the same raw table (`raw_batteries.telemetry` as ensure_raw_tables
  makes it: same columns, same unique key, same BRIN). The metadata is part of every raw row (staging
  reads `_source_file`, incremental builds read `_loaded_at`), so a plain COPY that fills the raw table
  writes it too: the ratio measures what the loader adds over the database's own speed for those rows;
- for context, COPY (binary) of only the four data columns into a table with only the unique key, the
  baseline before the runs were repeated: narrower rows and one index less cost the server less.
Prints the median rows/s of the loader and of COPY and the goal ratio (median loader rows/s / median COPY
rows/s, goal >= 0.6), the per-run ratios, and where the loader's seconds went (medians): parse (+ checks
and series marks, inside dlt's extract), the rest of extract (dlt writing parquet), normalize, load (the
database COPY and its commit), prepare (tables, pipeline) + settle (the late rows' upsert). Before the
runs, a load of a tiny tree into a throwaway database pays the process's one-off costs (lazy imports
such as pandas through pyarrow, ~0.5-1 s), so every run measures the loader's steady rate.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from ingest.db import Connection, EmbeddedServer, _free_port

TELEMETRY_COLUMNS = (
    "device_id",
    "series_name",
    "epoch_ms",
    "value",
    "_source_file",
    "_loaded_at",
    "_dlt_load_id",
)


def write_tree(root: Path, devices: int, series: int, points: int) -> int:
    (root / "assets").mkdir(parents=True)
    (root / "telemetry").mkdir()
    ids = [str(uuid.UUID(int=i + 1)) for i in range(devices)]
    items = [{"deviceId": d, "description": f"bench {i}", "state": "Ok"} for i, d in enumerate(ids)]
    (root / "assets" / "assets.json").write_bytes(orjson.dumps({"totalCount": devices, "items": items}))
    start = 1_738_850_562_000
    names = [f"Metric{chr(65 + s)}PowerW" for s in range(series)]
    for d in ids:
        doc = {
            "series": [
                {"name": n, "data": [[start + 4000 * p, p % 997 + 0.5] for p in range(points)]} for n in names
            ]
        }
        (root / "telemetry" / f"{d}.json").write_bytes(orjson.dumps(doc))
    return devices * series * points


def fresh_database(server: Connection, name: str) -> Connection:
    with server.connect(autocommit=True) as db:
        db.execute(f'drop database if exists "{name}"')
        db.execute(f'create database "{name}"')
    return replace(server, dbname=name)


def drop_database(server: Connection, name: str) -> None:
    with server.connect(autocommit=True) as db:
        db.execute(f'drop database if exists "{name}"')


def checkpoint(conn: Connection) -> None:
    """Start each timed step with no dirty buffers and no checkpoint due from the previous one."""
    with conn.connect(autocommit=True) as db:
        db.execute("checkpoint")


def landed_rows(conn: Connection, columns: tuple[str, ...]) -> bytes:
    """Those columns of the telemetry rows exactly as the loader wrote them, as binary COPY data."""
    buf = io.BytesIO()
    query = f"copy (select {', '.join(columns)} from raw_batteries.telemetry) to stdout (format binary)"
    with conn.connect() as db, db.cursor().copy(query) as copy:
        for chunk in copy:
            buf.write(chunk)
    return buf.getvalue()


def timed_copy(conn: Connection, table: str, columns: tuple[str, ...], data: bytes) -> float:
    checkpoint(conn)
    with conn.connect(autocommit=True) as db:
        started = time.perf_counter()
        with db.cursor().copy(f"copy {table} ({', '.join(columns)}) from stdin (format binary)") as copy:
            copy.write(data)
        return time.perf_counter() - started


def copy_landed(conn: Connection, data: bytes) -> float:
    """Plain COPY of the landed rows into the raw table, made as the loader makes it."""
    from ingest.pipeline import ensure_raw_tables, vendor

    ensure_raw_tables(conn, [vendor("batteries")])
    return timed_copy(conn, "raw_batteries.telemetry", TELEMETRY_COLUMNS, data)


def copy_data_columns(conn: Connection, data: bytes) -> float:
    """Plain COPY of the four data columns into a table with only the unique key."""
    with conn.connect(autocommit=True) as db:
        db.execute(
            "create table public.copy_baseline (device_id varchar not null, series_name varchar not null, "
            "epoch_ms bigint not null, value double precision not null)"
        )
        db.execute("create unique index on public.copy_baseline (device_id, series_name, epoch_ms)")
    return timed_copy(conn, "public.copy_baseline", TELEMETRY_COLUMNS[:4], data)


def run_loader(conn: Connection, root: Path, expected: int) -> dict[str, float]:
    """One load into an empty database: the loader's seconds and where they went."""
    from ingest.pipeline import load

    checkpoint(conn)
    started = time.perf_counter()
    report = load("batteries", root, conn)
    loader_s = time.perf_counter() - started
    assert report.loaded == expected and report.quarantined == 0, (report.loaded, report.quarantined)
    steps = report.seconds
    return {
        "loader": loader_s,
        "parse": report.parse_seconds,  # parse (+ checks, marks) runs inside dlt's extract
        "extract_rest": steps.get("extract", 0.0) - report.parse_seconds,
        "normalize": steps.get("normalize", 0.0),
        "load_db": steps.get("load", 0.0),
        "prepare_settle": steps.get("prepare", 0.0) + steps.get("settle", 0.0),
    }


def measure(devices: int, series: int, points: int, runs: int) -> dict[str, Any]:
    per_run: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GRIDHOUSE_HOME"] = tmp
        root = Path(tmp) / "batteries"
        rows = write_tree(root, devices, series, points)
        server = EmbeddedServer(Path(tmp) / "server", port=_free_port())
        admin = server.start()
        landed = data_columns = b""
        try:
            warm = fresh_database(admin, "bench_warmup")
            tiny_rows = write_tree(Path(tmp) / "tiny", 1, 1, 10)
            run_loader(warm, Path(tmp) / "tiny", tiny_rows + 1)
            drop_database(admin, warm.dbname)
            for i in range(runs):
                seconds: dict[str, float] = {}
                # the first run loads first: COPY sends the rows that load landed
                for step in ("loader", "copy") if i % 2 == 0 else ("copy", "loader"):
                    conn = fresh_database(admin, f"bench_{step}_{i}")  # a new name: new dlt state too
                    if step == "loader":
                        seconds.update(run_loader(conn, root, rows + devices))
                        if not landed:
                            landed = landed_rows(conn, TELEMETRY_COLUMNS)
                            data_columns = landed_rows(conn, TELEMETRY_COLUMNS[:4])
                    else:
                        seconds["copy"] = copy_landed(conn, landed)
                        seconds["copy_4col"] = copy_data_columns(conn, data_columns)
                    drop_database(admin, conn.dbname)
                per_run.append(seconds)
                print(
                    f"run {i + 1}/{runs}: "
                    + ", ".join(f"{k} {v:.2f}" for k, v in seconds.items())
                    + f" (ratio {seconds['copy'] / seconds['loader']:.3f})",
                    flush=True,
                )
        finally:
            server.stop()
    median = {k: statistics.median(r[k] for r in per_run) for k in per_run[0]}
    return {
        "rows": rows,
        "runs": runs,
        "dlt_rows_per_s": round(rows / median["loader"]),
        "copy_rows_per_s": round(rows / median["copy"]),
        "ratio": round(median["copy"] / median["loader"], 3),
        "run_ratios": [round(r["copy"] / r["loader"], 3) for r in per_run],
        "copy_4col_rows_per_s": round(rows / median["copy_4col"]),
        "ratio_4col": round(median["copy_4col"] / median["loader"], 3),
        "loader_format": os.environ.get("GRIDHOUSE_LOADER_FORMAT", "parquet"),
        "seconds": {k: round(v, 3) for k, v in median.items()},
    }


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--devices", type=int, default=200)
    args.add_argument("--series", type=int, default=5)
    args.add_argument("--points", type=int, default=1000)
    args.add_argument("--runs", type=int, default=7, help="loader and COPY runs, alternating (medians)")
    args.add_argument("--json", type=Path, help="also write the figures here")
    opts = args.parse_args()

    figures = measure(opts.devices, opts.series, opts.points, opts.runs)
    print(f"{'rows':>12} {'dlt rows/s':>12} {'COPY rows/s':>12} {'ratio':>7}   (medians of {opts.runs} runs)")
    print(
        f"{figures['rows']:>12,} {figures['dlt_rows_per_s']:>12,} {figures['copy_rows_per_s']:>12,} "
        f"{figures['ratio']:>7}"
    )
    print(f"per-run ratios: {figures['run_ratios']}")
    print(
        f"4 data columns, unique key only: COPY {figures['copy_4col_rows_per_s']:,} rows/s, "
        f"ratio {figures['ratio_4col']}"
    )
    print("seconds (medians): " + ", ".join(f"{k} {v:.2f}" for k, v in figures["seconds"].items()))
    if opts.json:
        opts.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
