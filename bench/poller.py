"""An alert poller during `gridhouse build -- --full-refresh` on the bench fleet.

    python -m bench.poller [--scale 2.5] [--days 90] [--rate 20]

Loads the bench's fleet (bench.harness: the same seed and scale as `make bench`) over `days` days into a
fresh database of a private embedded server and builds it, then polls every alert view as role `alerting`
`rate` times a second (one query: each view's row count) while the whole project is rebuilt with
--full-refresh. Prints the polls, the errors (by message) and the answers with fewer rows in a view than
before the refresh (the data did not change, so every answer should equal the first). Goal (issue 14):
zero errors and zero emptied answers.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter

import psycopg

from bench.harness import Workspace, dbt_build
from ingest.db import Connection


class Poller(threading.Thread):
    """Counts the rows of every alert view in one query, `rate` times a second, until stopped."""

    def __init__(self, conn: Connection, views: list[str], rate: float) -> None:
        super().__init__(daemon=True)
        self.conn, self.rate = conn, rate
        self.query = " union all ".join(f"select '{v}', count(*) from alerts.{v}" for v in views)
        self.stop = threading.Event()
        self.answers: list[dict[str, int]] = []
        self.errors: Counter[str] = Counter()

    def run(self) -> None:
        with psycopg.connect(self.conn.url(), autocommit=True) as db:
            while not self.stop.is_set():
                try:
                    self.answers.append(dict(db.execute(self.query).fetchall()))
                except psycopg.Error as error:
                    self.errors[str(error).splitlines()[0]] += 1
                time.sleep(1 / self.rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=2.5)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rate", type=float, default=20.0, help="polls a second")
    args = parser.parse_args()
    with Workspace(scale=args.scale) as ws:
        warehouse = ws.warehouse(args.days)
        conn = warehouse.conn
        with conn.connect() as db:
            points = db.execute("select count(*) from raw_batteries.telemetry").fetchone()[0]
            views = [
                name
                for (name,) in db.execute(
                    "select table_name from information_schema.views where table_schema = 'alerts' order by 1"
                ).fetchall()
            ]
        alerting = Connection(conn.host, conn.port, "alerting", ws.server.password("alerting"), conn.dbname)
        poller = Poller(alerting, views, args.rate)
        poller.start()
        time.sleep(1.0)
        before = poller.answers[-1]
        started = len(poller.answers)
        seconds, _ = dbt_build(conn, "--full-refresh")
        during = poller.answers[started:]
        time.sleep(0.5)
        poller.stop.set()
        poller.join(timeout=10)
    emptied = [a for a in during if any(a.get(v, 0) < n for v, n in before.items())]
    print(
        f"bench fleet: scale {args.scale}, {args.days} days, {points:,} battery points, {len(views)} alert views"
    )
    print(f"rows per view before the refresh: {before}")
    print(
        f"full refresh {seconds:.1f} s: {len(during)} polls ({len(during) / seconds:.1f}/s) as alerting, "
        f"{sum(poller.errors.values())} errors, {len(emptied)} answers with fewer rows than before"
    )
    for message, n in poller.errors.most_common():
        print(f"  {n} x {message}")


if __name__ == "__main__":
    main()
