"""The HTTP API's latency at 10x the history vs 1x: `gridhouse api` served by uvicorn, asked over HTTP.

    python -m bench.api [--scale S]

On the BASE_DAYS and the HISTORY_DAYS warehouses of the same fleet, the API (as bi_reader and alerting)
answers the same questions about the newest day of each: a circuit's and an organisation's usage over it,
a meter's last week of days and tariffs and its load profile, a home's hours and the fleet now, a battery's
last hour of telemetry and its last week of daily figures and health, and the open alerts. Each round asks
every question once, after warm-up rounds, of both warehouses' servers side by side in turns; the figure
is the p95 of all requests' latencies (client side, HTTP included). Goal: at most 1.5x (what a dashboard
asks must not slow down as history grows).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx

from bench.harness import BASE_DAYS, HISTORY_DAYS, START, Result, Workspace
from bench.steps import main_for
from ingest.api import Readers, create_app
from ingest.db import Connection, _free_port

WARMUP = 3


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def questions(conn: Connection, days: int) -> dict[str, tuple[str, dict]]:
    """The requests of one round: the same entities (same fleet and seed) and the newest day of the history."""
    day = START + timedelta(days=days - 1)
    start, end = f"{day}T00:00:00Z", f"{day + timedelta(days=1)}T00:00:00Z"
    week = {"from": str(day - timedelta(days=6)), "to": str(day)}
    with conn.connect() as db:

        def first(query: str) -> tuple:
            row = db.execute(query).fetchone()
            if row is None:
                raise SystemExit(f"bench.api: nothing in {conn.dbname} for: {query}")
            return row

        duid, number = first(
            "select duid, circuit_number from marts.dim_circuits order by circuit_id limit 1"
        )
        (org,) = first("select organization_id from marts.dim_organizations order by 1 limit 1")
        meter, meter_day = first(
            "select meter_id, max(local_date) from marts.fct_meter_daily group by 1 order by 1"
        )
        (home,) = first("select home_id from marts.fct_home_energy_summary order by 1 limit 1")
        (asset,) = first("select asset_id from marts.dim_batteries order by 1 limit 1")
    meter_week = {"from": str(meter_day - timedelta(days=6)), "to": str(meter_day)}
    last_hour = {"from": f"{day}T23:00:00Z", "to": end, "limit": 1000}
    return {
        "usage_circuit": ("/usage/circuit", {"sensor": duid, "number": number, "from": start, "to": end}),
        "usage_org": ("/usage/org", {"org": org, "from": start, "to": end}),
        "meter_days": (f"/meters/{meter}/days", meter_week),
        "meter_tariffs": (f"/meters/{meter}/tariffs", meter_week),
        "meter_load_profile": (f"/meters/{meter}/load-profile", {"limit": 1000}),
        "home_hours": ("/homes/summary", {"grain": "hour", "home_id": home, "from": start, "to": end}),
        "fleet_now": ("/fleet/now", {"limit": 1000}),
        "battery_telemetry": (f"/batteries/{asset}/telemetry", last_hour),
        "battery_daily": (f"/batteries/{asset}/daily", week),
        "battery_health": (f"/batteries/{asset}/health", week),
        "alerts": ("/alerts", {}),
    }


@contextmanager
def served(ws: Workspace, conn: Connection) -> Iterator[httpx.Client]:
    """The API on this warehouse, served by uvicorn in a thread, and a client of it."""
    import uvicorn

    def role(name: str) -> Connection:
        return Connection(conn.host, conn.port, name, ws.server.password(name), conn.dbname)

    readers = Readers(role("bi_reader"), role("alerting"))
    port = _free_port()
    api = uvicorn.Server(
        uvicorn.Config(create_app(readers), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=api.run, daemon=True)
    thread.start()
    try:
        while not api.started:
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        api.should_exit = True
        thread.join(timeout=30)
        readers.close()


def ask(client: httpx.Client, path: str, params: dict) -> float:
    started = time.perf_counter()
    response = client.get(path, params=params)
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"bench.api: {path} answered {response.status_code}: {response.text}")
    return ms


def latencies(ws: Workspace, rounds: int) -> dict[int, dict[str, list[float]]]:
    """Milliseconds per request and question on both warehouses, asked in turns (1x then 10x, then the
    other way round), so whatever else the machine does weighs on both alike."""
    sizes = (BASE_DAYS, HISTORY_DAYS)
    conns = {days: ws.warehouse(days).conn for days in sizes}
    for conn in conns.values():
        with conn.connect(autocommit=True) as db:
            db.execute("vacuum analyze")
            db.execute("checkpoint")
    asked = {days: questions(conn, days) for days, conn in conns.items()}
    out = {days: {name: [] for name in asked[days]} for days in sizes}
    with served(ws, conns[BASE_DAYS]) as one, served(ws, conns[HISTORY_DAYS]) as ten:
        clients = {BASE_DAYS: one, HISTORY_DAYS: ten}
        for round_ in range(WARMUP + rounds):
            for name in asked[BASE_DAYS]:
                for days in sizes if round_ % 2 else sizes[::-1]:
                    ms = ask(clients[days], *asked[days][name])
                    if round_ >= WARMUP:
                        out[days][name].append(ms)
    return out


def run(ws: Workspace, rounds: int = 40) -> list[Result]:
    measured = latencies(ws, rounds)
    one, ten = measured[BASE_DAYS], measured[HISTORY_DAYS]
    every_one = [ms for values in one.values() for ms in values]
    every_ten = [ms for values in ten.values() for ms in values]
    return [
        Result(
            "api",
            f"API p95 latency, {len(one)} endpoints, {HISTORY_DAYS} vs {BASE_DAYS} days",
            p95(every_ten),
            p95(every_one),
            "ms",
            goal="<= 1.5",
            detail={
                "rounds": rounds,
                "requests": len(every_ten),
                "1x_p95_ms": {k: round(p95(v), 2) for k, v in one.items()},
                "10x_p95_ms": {k: round(p95(v), 2) for k, v in ten.items()},
                "1x_median_ms": round(statistics.median(every_one), 2),
                "10x_median_ms": round(statistics.median(every_ten), 2),
            },
        )
    ]


if __name__ == "__main__":
    main_for(run, __doc__)
