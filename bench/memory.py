"""Peak memory of `gridhouse load batteries DIR` on one big telemetry file, at several file sizes.

    python -m bench.memory [--sizes 50,100,200] [--json PATH] [--keep DIR]

For each size (MB of JSON), writes a battery tree (assets/assets.json and one telemetry/<device>.json of
that size: {"series": [{"name": ..., "data": [[epoch_ms, value], ...]}, ...]}, four series, about 22
bytes a point, so 200 MB is about 9 M points), loads it with the command line into a fresh database of
a private embedded server, and prints the command's peak RSS (its VmHWM, the kernel's high-water mark
of the process's resident memory, mapped files included, read by the process as it exits) and wall
seconds. A tiny file first gives the fixed cost (interpreter, dlt, pyarrow, dbt is
not imported). Goal (issue 15): at most 1 GB at 200 MB and roughly flat in the file size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ingest.db import Connection, EmbeddedServer, _free_port

SERIES = ("BatteryPowerW", "StateOfChargePercentage", "BatteryExportKwh", "CellTemperatureCelsius")
START_MS = 1_700_000_000_000
STEP_MS = 4000
CHUNK_POINTS = 200_000


def write_telemetry(path: Path, megabytes: float, seed: int = 0) -> int:
    """A telemetry document of about `megabytes` MB (10^6 bytes), compact as vendors send it; returns
    its points. Values: watts with one decimal, a percentage, a growing kWh counter (integers), degrees."""
    rng = np.random.default_rng(seed)
    per_series = max(1, int(megabytes * 1_000_000 / len(SERIES) / 21.7))
    with path.open("wb") as out:
        out.write(b'{"series":[')
        for s, name in enumerate(SERIES):
            out.write(b"," if s else b"")
            out.write(b'{"name":"%s","data":[' % name.encode())
            for first in range(0, per_series, CHUNK_POINTS):
                n = min(CHUNK_POINTS, per_series - first)
                epochs = START_MS + STEP_MS * np.arange(first, first + n, dtype=np.int64)
                if name.endswith("Kwh"):
                    values = [str(v) for v in (first + np.arange(n)) // 7]
                elif name.endswith("W"):
                    values = [f"{v:.1f}" for v in rng.normal(0, 2500, n)]
                else:
                    values = [f"{v:.1f}" for v in rng.uniform(5, 95, n)]
                text = ",".join(f"[{e},{v}]" for e, v in zip(epochs.tolist(), values, strict=True))
                out.write((b"," if first else b"") + text.encode())
            out.write(b"]}")
        out.write(b"]}")
    return per_series * len(SERIES)


def write_tree(root: Path, megabytes: float) -> tuple[int, int]:
    """(points, file bytes) of a battery tree with one device whose telemetry is about `megabytes` MB."""
    device = str(uuid.UUID(int=int(megabytes * 1000) + 1))
    (root / "assets").mkdir(parents=True)
    (root / "telemetry").mkdir()
    items = [{"deviceId": device, "description": "memory bench", "state": "Ok"}]
    (root / "assets" / "assets.json").write_bytes(orjson.dumps({"totalCount": 1, "items": items}))
    path = root / "telemetry" / f"{device}.json"
    points = write_telemetry(path, megabytes)
    return points, path.stat().st_size


def fresh_database(admin: Connection, name: str) -> Connection:
    with admin.connect(autocommit=True) as db:
        db.execute(f'drop database if exists "{name}"')
        db.execute(f'create database "{name}"')
    return replace(admin, dbname=name)


# The command run with a hook that reports its own high-water mark (VmHWM) at exit: the rusage of a
# child counts the memory of the process that spawned it too (the kernel keeps the larger of the two
# across exec), so wait4's figure would include this bench's own.
CHILD = """
import atexit, sys

def report(path):
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(path, "w") as out:
        out.write(peak)

atexit.register(report, sys.argv[1])
sys.argv = ["gridhouse", *sys.argv[2:]]
from ingest.cli import main
sys.exit(main())
"""


def peak_rss(args: list[str], env: dict[str, str]) -> tuple[int, float, int, str]:
    """(peak RSS in bytes, wall seconds, exit code, output) of `gridhouse ARGS` in a child process."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "vmhwm"
        log = Path(tmp) / "log"
        with log.open("wb") as out:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(peak_file), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        seconds = time.perf_counter() - started
        peak = int(peak_file.read_text()) * 1024 if peak_file.exists() else 0
        return peak, seconds, done.returncode, log.read_text(errors="replace")


def measure(sizes: list[float], keep: Path | None = None) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gridhouse-bench-memory-") as tmp:
        work = keep or Path(tmp)
        server = EmbeddedServer(Path(tmp) / "server", port=_free_port())
        admin = server.start()
        try:
            for megabytes in [0.01, *sizes]:
                tree = work / f"batteries_{megabytes:g}mb"
                counts = work / f"batteries_{megabytes:g}mb.json"
                if not counts.exists():
                    shutil.rmtree(tree, ignore_errors=True)
                    points, size = write_tree(tree, megabytes)
                    counts.write_text(json.dumps({"points": points, "bytes": size}))
                else:  # --keep: the tree of an earlier run
                    points, size = json.loads(counts.read_text()).values()
                conn = fresh_database(admin, f"memory_{str(megabytes).replace('.', '_')}")
                env = {
                    **os.environ,
                    "GRIDHOUSE_DSN": conn.url(show_password=True),
                    "GRIDHOUSE_HOME": str(Path(tmp) / "home"),
                    "COLUMNS": "200",
                }
                rss, seconds, code, output = peak_rss(["load", "batteries", str(tree)], env)
                if code != 0:
                    raise SystemExit(f"load of {tree} exited {code}:\n{output}")
                row = {
                    "file_mb": round(size / 1e6, 1),
                    "points": points,
                    "peak_rss_mb": round(rss / 1e6),
                    "seconds": round(seconds, 1),
                }
                rows.append(row)
                print(
                    f"{row['file_mb']:>7.1f} MB file, {points:>10,} points: peak RSS {row['peak_rss_mb']:>6,} MB "
                    f"in {seconds:6.1f} s",
                    flush=True,
                )
                with admin.connect(autocommit=True) as db:
                    db.execute(f'drop database "{conn.dbname}"')
        finally:
            server.stop()
    fixed, *big = rows
    slope = None
    if len(big) >= 2:  # MB of RSS per MB of file, between the smallest and the largest big file
        slope = round(
            (big[-1]["peak_rss_mb"] - big[0]["peak_rss_mb"]) / (big[-1]["file_mb"] - big[0]["file_mb"]), 2
        )
    return {"fixed": fixed, "sizes": big, "rss_mb_per_file_mb": slope, "goal": "<= 1000 MB at 200 MB"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="50,100,200", help="file sizes in MB, comma-separated")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--keep", type=Path, help="write (or reuse) the trees here instead of a temp folder")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    figures = measure(sizes, args.keep)
    print(
        f"fixed cost {figures['fixed']['peak_rss_mb']} MB; "
        f"{figures['rss_mb_per_file_mb']} MB of RSS per MB of file between the sizes"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
