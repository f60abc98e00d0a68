"""The load log: each load of a vendor in raw_<vendor>._gridhouse_loads, so dbt reads exactly the new loads.

A load of a vendor holds an advisory lock for its whole run (loads of one vendor never overlap, whichever
machine starts them), stamps all its rows with one `_loaded_at` from the database's clock, taken once the
lock is held, and records itself before writing any row (`running`) and after the last one is committed
(`finished`). So `_loaded_at` grows with the order of the loads, and every row older than the oldest load
still running belongs to a load that has ended. The incremental models read the rows loaded after the
newest `loaded_at` they hold and before that bound (macro `loaded_since_last_build`, or, as literals looked
up when a model compiles, `loads_to_take_in`, whose bound asks this lock): no lookback, nothing missed when
a build runs during a load, nothing read twice.

A load that died leaves its row `running`; the next load of the vendor, holding the lock, marks it
`abandoned` (the rows it did commit are valid rows, and now readable).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from ingest.db import Connection

TABLE = "_gridhouse_loads"


def ensure_log(db, dataset: str) -> None:  # noqa: ANN001 - a psycopg connection
    from psycopg import sql

    db.execute(
        sql.SQL(
            "create table if not exists {}.{} ("
            "loaded_at timestamp with time zone primary key, "
            "finished_at timestamp with time zone, "
            "status varchar not null, "
            "files integer, "
            "read bigint, "
            "loaded bigint, "
            "quarantined bigint)"
        ).format(sql.Identifier(dataset), sql.Identifier(TABLE))
    )


@contextlib.contextmanager
def logged_load(conn: Connection, dataset: str) -> Iterator[LoadStamp]:
    """Hold the vendor's load lock and its log row for one load; yields the load's `_loaded_at`.
    The log table exists: ensure_raw_tables() made it with the vendor's raw tables."""
    from psycopg import sql

    log = sql.SQL("{}.{}").format(sql.Identifier(dataset), sql.Identifier(TABLE))
    # The same key as dbt's macro ended_loads_before, which asks whether a load holds it.
    lock = f"gridhouse load {dataset}"
    with conn.connect(autocommit=True) as db:
        db.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (lock,))
        try:
            db.execute(
                sql.SQL(
                    "update {} set status = 'abandoned', finished_at = clock_timestamp() "
                    "where status = 'running'"
                ).format(log)
            )
            # Strictly later than every earlier load, even if the server's clock stepped back.
            (loaded_at,) = db.execute(
                sql.SQL(
                    "insert into {log} (loaded_at, status) "
                    "select greatest(clock_timestamp(), max(loaded_at) + interval '1 microsecond'), 'running' "
                    "from {log} returning loaded_at"
                ).format(log=log)
            ).fetchone()
            stamp = LoadStamp(loaded_at)
            status = "failed"
            try:
                yield stamp
                status = "finished"
            finally:
                db.execute(
                    sql.SQL(
                        "update {} set status = %s, finished_at = clock_timestamp(), files = %s, read = %s, "
                        "loaded = %s, quarantined = %s where loaded_at = %s"
                    ).format(log),
                    (status, stamp.files, stamp.read, stamp.loaded, stamp.quarantined, loaded_at),
                )
        finally:
            db.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (lock,))


@dataclass
class LoadStamp:
    """One load's `_loaded_at` and, once it ends, its counts for the log."""

    loaded_at: datetime
    files: int | None = None
    read: int | None = None
    loaded: int | None = None
    quarantined: int | None = None
