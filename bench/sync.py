"""`gridhouse sync`: a cycle with nothing new, a cycle with one vendor's new day, data landing -> alert.

    python -m bench.sync [--scale S] [--json PATH]

On a fresh database, with the BASE_DAYS fleet copied to a folder of its own (this step adds files to it),
every cycle is `gridhouse sync` as a schedule runs it (a new process, the four vendors named by
SOURCES__<VENDOR>__PATH). The first cycle loads everything and builds the whole project (the full build
the later rows are compared with). Then:
- no-op: the median of 5 cycles with nothing new, against the cycle they replace (`gridhouse load` of each
  vendor and `gridhouse build`, with nothing new). The issue's target is 1 s (`met_1s` in the detail).
- one vendor's new day: the batteries' telemetry files of the next day land; the cycle's wall time against
  the first cycle's, and the dbt nodes it ran against the full build's.
- landing -> alert: a telemetry file with one SoC point below the low-SoC threshold lands for a battery
  that is not alerting, and a cycle starts at once; the time until `alerts.battery_low_soc` shows the
  battery to role `alerting` (polled every 0.2 s), against that cycle's own wall time.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness import BASE_DAYS, Result, Workspace
from bench.steps import main_for
from ingest.db import Connection

VENDORS = ("batteries", "meters", "circuits", "devices")
GRIDHOUSE = str(Path(sys.executable).with_name("gridhouse"))


def cycle(env: dict[str, str], cwd: Path, *args: str) -> float:
    """One `gridhouse <args>` as a schedule starts it; its wall seconds (it must exit 0)."""
    started = time.perf_counter()
    done = subprocess.run([GRIDHOUSE, *args], env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"gridhouse {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-600:]}")
    return seconds


def nodes_run() -> Counter[str]:
    """dbt nodes of the last invocation per resource type (run_results.json)."""
    path = Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json"
    results = json.loads(path.read_text())["results"]
    return Counter(r["unique_id"].split(".", 1)[0] for r in results)


def run(ws: Workspace, repeat: int = 5) -> list[Result]:
    tree = ws.root / "sync-tree"
    shutil.rmtree(tree, ignore_errors=True)
    for vendor in VENDORS:
        shutil.copytree(ws.history(BASE_DAYS) / vendor, tree / vendor)
    conn = ws.database("bench_sync")
    env = {**os.environ, "GRIDHOUSE_DSN": conn.url(show_password=True)}
    env.update({f"SOURCES__{v.upper()}__PATH": str(tree / v) for v in VENDORS})

    first_s = cycle(env, ws.root, "sync")
    full = nodes_run()
    noop = [cycle(env, ws.root, "sync") for _ in range(repeat)]
    builds_before = build_count(conn)
    old_s = sum(cycle(env, ws.root, "load", v, str(tree / v)) for v in VENDORS) + cycle(env, ws.root, "build")

    new_day = ws.next_day(BASE_DAYS) / "batteries" / "telemetry"
    for path in new_day.glob("*.json"):
        shutil.copy(path, tree / "batteries" / "telemetry" / path.name)
    one_s = cycle(env, ws.root, "sync")
    one = nodes_run()
    landing = landing_to_alert(ws, conn, tree, env)
    detail_noop = {
        "runs_s": [round(s, 3) for s in noop],
        "goal_s": 1.0,
        "met_1s": statistics.median(noop) <= 1.0,
    }
    detail_noop["builds_during_noop"] = builds_before - 1  # the first cycle's build only: 0 after it
    return [
        Result(
            "sync",
            "sync with nothing new vs load x4 + gridhouse build with nothing new",
            statistics.median(noop),
            old_s,
            "s",
            detail=detail_noop,
        ),
        Result(
            "sync",
            "sync after one vendor's new day (batteries) vs the first sync (load + full build)",
            one_s,
            first_s,
            "s",
            detail={"nodes": dict(one), "full_build_nodes": dict(full)},
        ),
        Result(
            "sync",
            "sync: dbt models run after one vendor's new day vs the full build",
            one["model"],
            full["model"],
            "models",
            detail={"nodes": sum(one.values()), "full_build_nodes": sum(full.values())},
        ),
        Result(
            "sync",
            "data landing -> alert visible to the poller vs that sync cycle's wall time",
            landing["visible_s"],
            landing["cycle_s"],
            "s",
            detail=landing,
        ),
    ]


def build_count(conn: Connection) -> int:
    with conn.connect() as db:
        return db.execute("select count(*) from raw_batteries._gridhouse_builds").fetchone()[0]


def landing_to_alert(ws: Workspace, conn: Connection, tree: Path, env: dict[str, str]) -> dict[str, Any]:
    """Write a low-SoC point for a battery not alerting, start a sync, poll as `alerting` until it shows."""
    with conn.connect() as db:
        asset_id, metric, last_at = db.execute(
            "select s.asset_id, s.metric, s.last_measured_at from marts.dim_battery_series as s "
            "where s.quantity = 'StateOfCharge' and s.asset_id not in (select asset_id from alerts.battery_low_soc) "
            "order by s.asset_id limit 1"
        ).fetchone()
    alerting = Connection(conn.host, conn.port, "alerting", ws.server.password("alerting"), conn.dbname)
    point_ms = int(last_at.timestamp() * 1000) + 60_000
    body = {"series": [{"name": metric, "data": [[point_ms, 5.0]]}]}
    landed = time.perf_counter()
    (tree / "batteries" / "telemetry" / f"{asset_id}.json").write_text(json.dumps(body))
    process = subprocess.Popen([GRIDHOUSE, "sync"], env=env, cwd=ws.root, stdout=subprocess.DEVNULL)
    visible_s = None
    with alerting.connect(autocommit=True) as poller:
        while visible_s is None:
            found = poller.execute(
                "select value from alerts.battery_low_soc where asset_id = %s", (asset_id,)
            ).fetchone()
            if found is not None:
                visible_s = time.perf_counter() - landed
            elif process.poll() is not None and process.returncode != 0:
                raise SystemExit(f"gridhouse sync exited {process.returncode} before the alert showed")
            elif time.perf_counter() - landed > 600:
                raise SystemExit("the low-SoC alert did not show within 10 minutes")
            else:
                time.sleep(0.2)
    process.wait()
    cycle_s = time.perf_counter() - landed
    return {
        "asset_id": asset_id,
        "soc_pct": 5.0,
        "visible_s": round(visible_s, 2),
        "cycle_s": round(cycle_s, 2),
    }


if __name__ == "__main__":
    main_for(run, __doc__)
