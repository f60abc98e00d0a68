"""The alert views are never missing, not even during `--full-refresh`.

A poller connected as role `alerting` reads every alert view as fast as it can while the battery models are
rebuilt with --full-refresh. The latest-state tables under the views are rewritten in place (their rows
deleted and inserted in one transaction, macros/materializations/incremental_in_place.sql), the views are
replaced in place (view_in_place) and grants are each model's (dbt's `grants:` config, in its transaction):
so every poll answers, and answers what it answered before the refresh (the data did not change)."""

from __future__ import annotations

import threading
import time

import psycopg
from test_battery_support import SimWarehouse, battery_sim_fixture, build_batteries  # noqa: F401

from ingest.db import Connection

VIEWS = (
    "battery_low_soc",
    "battery_stale",
    "battery_no_soc",
    "battery_vendor_warning",
    "battery_over_temperature",
    "battery_feed_unreadable",
)
POLL = " union all ".join(f"select '{v}', count(*) from alerts.{v}" for v in VIEWS)


class Poller(threading.Thread):
    """Polls every alert view in one query, as fast as the server answers, until stopped."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(daemon=True)
        self.conn = conn
        self.stop = threading.Event()
        self.answers: list[dict[str, int]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        with psycopg.connect(self.conn.url(), autocommit=True) as db:
            while not self.stop.is_set():
                try:
                    self.answers.append(dict(db.execute(POLL).fetchall()))
                except psycopg.Error as error:
                    self.errors.append(str(error).splitlines()[0])
                time.sleep(0.005)


def test_alert_views_answer_every_poll_during_a_full_refresh(server, battery_sim: SimWarehouse):
    w = battery_sim.conn
    alerting = Connection(w.host, w.port, "alerting", server.password("alerting"), w.dbname)
    poller = Poller(alerting)
    poller.start()
    time.sleep(0.5)
    assert poller.answers and not poller.errors, poller.errors[:3]
    before = poller.answers[-1]
    # Simulated data lies in the past: every asset that reported is stale, every view but two has rows.
    assert all(before[v] > 0 for v in VIEWS if v not in ("battery_low_soc", "battery_over_temperature"))

    started = time.monotonic()
    # The same vars as the fixture's build, so the warehouse other tests read is rebuilt to what it was.
    build_batteries(w, battery_sim.tree, "--full-refresh", "--exclude-resource-type", "unit_test")
    seconds = time.monotonic() - started
    polls_during = len(poller.answers)
    time.sleep(0.3)
    poller.stop.set()
    poller.join(timeout=10)

    changed = [a for a in poller.answers if a != before]
    print(
        f"full refresh {seconds:.1f} s: {polls_during} polls ({polls_during / seconds:.0f}/s), "
        f"{len(poller.errors)} errors, {len(changed)} answers that differ"
    )
    assert poller.errors == []
    assert changed == []
    assert polls_during > 50
