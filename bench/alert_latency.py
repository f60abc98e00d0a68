"""Alert view latency at 1x and 10x battery history, and the storage cost of battery_telemetry.

    python -m bench.alert_latency [--batteries N] [--days D] [--repeat R]

Simulates the same fleet (same seed, same assets) over D days and over 10 x D days, loads each into its
own database on one private embedded server, builds the battery models, then times every alert view
(median of R runs of `select * from alerts.<view>`, the pollers' query) on both. Prints the times, the
10x / 1x ratio (goal <= 1.5: alert cost must not grow with history) and bytes per row of battery_telemetry's
storage table (bench.storage.STORE; table + indexes, and heap only) against the raw JSON bytes per point.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from ingest.db import Connection, EmbeddedServer, _free_port

VIEWS = ("battery_low_soc", "battery_stale", "battery_no_soc", "battery_vendor_warning")


def warehouse(server: EmbeddedServer, name: str, tree: Path) -> Connection:
    from ingest.build import run_dbt
    from ingest.pipeline import load

    base = server.connection()
    with Connection(base.host, base.port, base.user, base.password, "postgres").connect(
        autocommit=True
    ) as admin:
        admin.execute(f'drop database if exists "{name}"')
        admin.execute(f'create database "{name}"')
    conn = Connection(base.host, base.port, base.user, base.password, name, embedded=True)
    load("batteries", tree / "batteries", conn)
    result = run_dbt(
        conn,
        [
            "build",
            "--select",
            "stg_batteries__assets+",
            "stg_batteries__telemetry+",
            "--exclude",
            "test_type:data",
        ],
        quiet=True,
    )
    if not result.success:
        raise SystemExit(f"dbt build failed for {name}: {dict(result.statuses)}")
    with conn.connect(autocommit=True) as db:
        db.execute("vacuum analyze")
    return conn


def view_latency_ms(conn: Connection, repeat: int) -> dict[str, float]:
    out = {}
    with conn.connect() as db:
        for view in VIEWS:
            timings = []
            for _ in range(repeat + 5):
                start = time.perf_counter()
                db.execute(f"select * from alerts.{view}").fetchall()
                timings.append((time.perf_counter() - start) * 1000)
            out[view] = statistics.median(timings[5:])  # the first runs warm the cache and plan
    return out


def storage(conn: Connection, tree: Path) -> dict[str, float]:
    from bench.storage import STORE

    with conn.connect() as db:
        n_rows, total, heap = db.execute(
            f"select count(*), pg_total_relation_size('{STORE}'), pg_relation_size('{STORE}') from {STORE}"
        ).fetchone()
    files = list((tree / "batteries" / "telemetry").glob("*.json"))
    raw_bytes = sum(f.stat().st_size for f in files)
    points = 0
    for f in files:
        try:
            points += sum(len(s["data"]) for s in json.loads(f.read_bytes())["series"])
        except (ValueError, KeyError, TypeError):
            continue  # the simulator's deliberately broken files
    return {
        "rows": n_rows,
        "bytes_per_row_with_indexes": total / n_rows,
        "bytes_per_row_heap": heap / n_rows,
        "raw_json_bytes_per_point": raw_bytes / points,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batteries", type=int, default=10)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    import simulator

    with tempfile.TemporaryDirectory(prefix="gridhouse-bench-") as tmp:
        root = Path(tmp)
        server = EmbeddedServer(root / "server", port=_free_port())
        server.start()
        try:
            results = {}
            for label, days in (("1x", args.days), ("10x", 10 * args.days)):
                tree = root / label
                simulator.simulate(
                    tree, seed=args.seed, families="batteries", batteries=args.batteries, days=days
                )
                started = time.perf_counter()
                conn = warehouse(server, f"bench_{label}", tree)
                built_s = time.perf_counter() - started
                results[label] = (view_latency_ms(conn, args.repeat), storage(conn, tree), built_s)
            for label, (latency, store, built_s) in results.items():
                print(
                    f"{label:>4}: {store['rows']:>10,} telemetry rows, load+build {built_s:6.1f} s; "
                    + ", ".join(f"{v} {ms:.2f} ms" for v, ms in latency.items())
                    + f"; all four {sum(latency.values()):.2f} ms"
                )
            one, ten = (sum(results[k][0].values()) for k in ("1x", "10x"))
            ratio = ten / one
            print(f"alert views 10x / 1x = {ratio:.2f} (goal <= 1.5): {'ok' if ratio <= 1.5 else 'TOO SLOW'}")
            store = results["10x"][1]
            print(
                f"battery_telemetry: {store['bytes_per_row_with_indexes']:.1f} bytes/row with indexes, "
                f"{store['bytes_per_row_heap']:.1f} heap only; raw JSON {store['raw_json_bytes_per_point']:.1f} "
                "bytes/point"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
