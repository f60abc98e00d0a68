"""dlt load of battery telemetry vs a plain COPY of the same rows into the same database.

    python -m bench.load_vs_copy [--devices N] [--series S] [--points P]

Writes a vendor-format telemetry tree (N devices x S series x P points), loads it with the project's
loader (parse + dlt + merge), then COPYs the same rows (already parsed, from memory) into a fresh table
with the same primary-key index. Prints rows/s for both and the ratio; the goal is >= 0.6. Also prints
where the loader's seconds went: parse (+ checks and series marks, inside dlt's extract), the rest of
extract (dlt writing parquet), normalize, load (the database COPY), prepare + settle.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from ingest.db import Connection, EmbeddedServer, _free_port


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


def copy_rows(conn: Connection, root: Path) -> tuple[int, float]:
    """Plain COPY of the same telemetry rows (parsing not timed: the baseline is the database's speed)."""
    buf = io.StringIO()
    n = 0
    for path in sorted((root / "telemetry").glob("*.json")):
        for s in json.loads(path.read_bytes())["series"]:
            for epoch, value in s["data"]:
                buf.write(f"{path.stem},{s['name']},{epoch},{value}\n")
                n += 1
    data = buf.getvalue().encode()
    with conn.connect(autocommit=True) as db:
        db.execute("drop table if exists public.copy_baseline")
        db.execute(
            "create table public.copy_baseline (device_id varchar not null, series_name varchar not null, "
            "epoch_ms bigint not null, value double precision not null)"
        )
        db.execute("create unique index on public.copy_baseline (device_id, series_name, epoch_ms)")
        started = time.perf_counter()
        with db.cursor().copy("copy public.copy_baseline from stdin (format csv)") as copy:
            copy.write(data)
        elapsed = time.perf_counter() - started
    return n, elapsed


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--devices", type=int, default=200)
    args.add_argument("--series", type=int, default=5)
    args.add_argument("--points", type=int, default=1000)
    args.add_argument("--json", type=Path, help="also write the figures here")
    opts = args.parse_args()

    from ingest.pipeline import load

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GRIDHOUSE_HOME"] = tmp
        server = EmbeddedServer(Path(tmp) / "server", port=_free_port())
        conn = server.start()
        try:
            root = Path(tmp) / "batteries"
            rows = write_tree(root, opts.devices, opts.series, opts.points)
            started = time.perf_counter()
            report = load("batteries", root, conn)
            dlt_s = time.perf_counter() - started
            assert report.loaded == rows + opts.devices, report.loaded
            copied, copy_s = copy_rows(conn, root)
        finally:
            server.stop()
    steps = report.seconds
    # where the loader's seconds went: parse (+ checks, marks) runs inside dlt's extract step
    breakdown = {
        "loader": dlt_s,
        "parse": report.parse_seconds,
        "extract_rest": steps.get("extract", 0.0) - report.parse_seconds,
        "normalize": steps.get("normalize", 0.0),
        "load_db": steps.get("load", 0.0),
        "prepare_settle": steps.get("prepare", 0.0) + steps.get("settle", 0.0),
        "copy": copy_s,
    }
    figures = {
        "rows": rows,
        "dlt_rows_per_s": round(rows / dlt_s),
        "copy_rows_per_s": round(copied / copy_s),
        "ratio": round((rows / dlt_s) / (copied / copy_s), 3),
        "loader_format": os.environ.get("GRIDHOUSE_LOADER_FORMAT", "parquet"),
        "seconds": {k: round(v, 3) for k, v in breakdown.items()},
    }
    print(f"{'rows':>12} {'dlt rows/s':>12} {'COPY rows/s':>12} {'ratio':>7}")
    print(
        f"{rows:>12,} {figures['dlt_rows_per_s']:>12,} {figures['copy_rows_per_s']:>12,} {figures['ratio']:>7}"
    )
    print("seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in breakdown.items()))
    if opts.json:
        opts.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
