"""Incremental: `dbt build` after one more day of data vs the full refresh of the history it extends.

    python -m bench.incremental [--scale S]

Loads HISTORY_DAYS (90) of the fleet and times `dbt build --full-refresh` (the baseline), then a
`dbt build` with nothing new (dbt's fixed cost: parse, every node's start-up, the incremental models'
window queries and the tests on an unchanged warehouse) and `dbt parse` alone, then loads the next UTC day
and times the `dbt build` that takes it in. Goal: the incremental build costs at most 0.10 of the full
refresh. Last, it loads the BACKFILL_DAYS (10) before the history, older than everything held, and times the
plain `dbt build` that takes them in (context, no goal), recording whether the marts now start that much
earlier.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from bench.harness import HISTORY_DAYS, START, Result, Workspace, dbt_build, load_tree, timed
from bench.steps import main_for
from ingest.db import Connection

BACKFILL_DAYS = 10  # loaded after day 91: the days before the history, older than everything held

# The earliest bucket of a mart of each family: after the backfill each should be BACKFILL_DAYS earlier.
MART_STARTS = {
    "marts.fct_battery_daily": "day_utc",
    "marts.fct_circuit_usage_hourly": "hour_start",
    "marts.fct_device_energy_daily": "local_day",
}


def mart_starts(conn: Connection) -> dict[str, date | datetime | None]:
    """The earliest bucket of each of MART_STARTS' marts."""
    with conn.connect(autocommit=True) as db:
        return {
            table: db.execute(f"select min({column}) from {table}").fetchone()[0]  # type: ignore[index]
            for table, column in MART_STARTS.items()
        }


def backfill_detail(
    before: dict[str, date | datetime | None], after: dict[str, date | datetime | None]
) -> dict[str, Any]:
    """Whether the marts start BACKFILL_DAYS earlier after the backfill: fct_battery_daily's first day is
    START - BACKFILL_DAYS, and every mart's earliest bucket moved back by exactly BACKFILL_DAYS."""
    shift = timedelta(days=BACKFILL_DAYS)
    moved = {
        table: before[table] is not None
        and after[table] is not None
        and before[table] - after[table] == shift  # type: ignore[operator]
        for table in MART_STARTS
    }
    return {
        "marts_start_10_days_earlier": after["marts.fct_battery_daily"] == START - shift
        and all(moved.values()),
        "battery_daily_first_day": str(after["marts.fct_battery_daily"]),
        "expected_first_day": str(START - shift),
        "mart_starts": {
            t: {"before": str(before[t]), "after": str(after[t]), "moved": moved[t]} for t in MART_STARTS
        },
    }


def run(ws: Workspace) -> list[Result]:
    from ingest.build import run_dbt

    w = ws.warehouse(HISTORY_DAYS)
    noop_s, noop_nodes = dbt_build(w.conn)
    _, parse_s = timed(lambda: run_dbt(w.conn, ["parse"], quiet=True))
    day_rows, day_load_s = load_tree(w.conn, ws.next_day(HISTORY_DAYS))
    incremental_s, nodes = dbt_build(w.conn)
    starts_before = mart_starts(w.conn)
    backfill_rows, backfill_load_s = load_tree(w.conn, ws.days_before(BACKFILL_DAYS))
    backfill_s, backfill_nodes = dbt_build(w.conn)
    starts_after = mart_starts(w.conn)
    full = f"full refresh of {HISTORY_DAYS} days"
    return [
        Result(
            "incremental",
            f"dbt build after one more day vs {full}",
            incremental_s,
            w.build_s,
            "s",
            goal="<= 0.10",
            detail={
                # the premise of the ratio: a full refresh long enough that fixed costs do not decide it
                "full_refresh_at_least_2_min": w.build_s >= 120,
                "history_rows": w.rows,
                "day_rows": day_rows,
                "day_load_s": round(day_load_s, 2),
                "slowest_nodes": nodes,
                "full_refresh_slowest_nodes": w.nodes,
            },
        ),
        Result(
            "incremental",
            f"dbt build with nothing new vs {full}",
            noop_s,
            w.build_s,
            "s",
            detail={"slowest_nodes": noop_nodes},
        ),
        Result("incremental", f"dbt parse vs {full}", parse_s, w.build_s, "s"),
        Result(
            "incremental",
            f"dbt build after loading {BACKFILL_DAYS} days older than everything held vs {full}",
            backfill_s,
            w.build_s,
            "s",
            detail={
                "backfill_rows": backfill_rows,
                "backfill_load_s": round(backfill_load_s, 2),
                **backfill_detail(starts_before, starts_after),
                "slowest_nodes": backfill_nodes,
            },
        ),
    ]


if __name__ == "__main__":
    main_for(run, __doc__)
