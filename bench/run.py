"""`make bench`: every benchmark step at one scale, one table, one JSON (bench/results/bench.json).

    python -m bench.run [--scale S] [--steps load,growth,alerts,api,storage,sync,spark,incremental] [--json PATH]

SCALE (env) or --scale multiplies the simulated fleet (harness.BASE_FLEET); the days are fixed: the
growth and alert steps compare BASE_DAYS with HISTORY_DAYS = 10 x BASE_DAYS of the same fleet, and the
incremental step adds one day to HISTORY_DAYS, then the 10 days before them. Steps share the warehouses they
build (the 90-day one is growth's 10x, the alert step's 10x, the storage step's PostgreSQL table and the
incremental step's full refresh), so the order below is the cheapest; every step also runs alone
(`python -m bench.<step>`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from bench import alerts, api, growth, incremental, load, spark, storage, sync
from bench.harness import RESULTS_JSON, Result, Workspace, fleet_knobs, machine, render, write_json
from bench.steps import scale_arg

STEPS: dict[str, Callable[[Workspace], list[Result]]] = {
    "load": load.run,
    "growth": growth.run,
    "alerts": alerts.run,
    "api": api.run,  # the alert step's warehouses, before incremental adds days to the 90-day one
    "storage": storage.run,
    "sync": sync.run,  # a database of its own, on the 9-day tree
    "spark": spark.run,  # the 9-day tree's devices in a database of its own and in a lake
    "incremental": incremental.run,  # last: it adds days to the 90-day warehouse
}


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale_arg(parser)
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset, in this order")
    parser.add_argument("--json", type=Path, default=RESULTS_JSON)
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STEPS]
    if unknown:
        parser.error(f"unknown steps {unknown}; choose from {', '.join(STEPS)}")
    before = machine()
    started = time.perf_counter()
    results: list[Result] = []
    seconds: dict[str, float] = {}
    with Workspace(args.scale) as ws:
        for name in (s for s in STEPS if s in chosen):
            step_started = time.perf_counter()
            print(f"bench: {name} ...", flush=True)
            results += STEPS[name](ws)
            seconds[name] = round(time.perf_counter() - step_started, 1)
    total = time.perf_counter() - started
    after = machine()
    caption = (
        f"SCALE={args.scale} ({fleet_knobs(args.scale)}), {total:.0f} s in all; "
        f"load average {before['load_avg_1m']} -> {after['load_avg_1m']} on {after['cpus']} CPUs"
    )
    render(results, caption=caption)
    write_json(
        results,
        args.json,
        scale=args.scale,
        fleet=fleet_knobs(args.scale),
        seconds=seconds,
        total_seconds=round(total, 1),
        machine_before=before,
        machine_after=after,
    )
    print(f"bench: wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
