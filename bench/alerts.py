"""Alert views: latency at 10x the history vs 1x (bench.alert_latency's measurement on the bench fleet).

    python -m bench.alerts [--scale S] [--repeat R]

The four alert views are read as the pollers read them (`select * from alerts.<view>`, median of R runs
after warm-up) on the BASE_DAYS and the HISTORY_DAYS warehouses of the same fleet. Goal: at most 1.5x.
"""

from __future__ import annotations

from bench.alert_latency import VIEWS, view_latency_ms
from bench.harness import BASE_DAYS, HISTORY_DAYS, Result, Workspace
from bench.steps import main_for

READ_BY_ALERTS = ("marts.dim_battery_series", "marts.dim_batteries", "marts.fct_battery_low_soc_episodes")


def latency(ws: Workspace, days: int, repeat: int) -> dict[str, float]:
    conn = ws.warehouse(days).conn
    with conn.connect(autocommit=True) as db:
        db.execute(f"vacuum analyze {', '.join(READ_BY_ALERTS)}")
    return view_latency_ms(conn, repeat)


def run(ws: Workspace, repeat: int = 50) -> list[Result]:
    one, ten = latency(ws, BASE_DAYS, repeat), latency(ws, HISTORY_DAYS, repeat)
    return [
        Result(
            "alerts",
            f"all {len(VIEWS)} alert views, {HISTORY_DAYS} vs {BASE_DAYS} days",
            sum(ten.values()),
            sum(one.values()),
            "ms",
            goal="<= 1.5",
            detail={"1x_ms": one, "10x_ms": ten, "repeat": repeat},
        )
    ]


if __name__ == "__main__":
    main_for(run, __doc__)
