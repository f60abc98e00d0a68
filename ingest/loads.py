"""The load log: each load of a vendor in raw_<vendor>._gridhouse_loads, so dbt reads exactly the new loads.

A load of a vendor holds an advisory lock for its whole run (loads of one vendor never overlap, whichever
machine starts them), stamps all its rows with one `_loaded_at` from the database's clock, taken once the
lock is held, and records itself before writing any row (`running`) and after the last one is committed
(`finished`, in the same transaction as the loader's memory, ingest/memory.py). So `_loaded_at` grows with
the order of the loads, and every row older than the oldest load still running belongs to a load that has
ended. The incremental models take in the loads later than the newest `loaded_at` they hold that have
ended (stg_<vendor>__loads, macro `loads_to_take_in`, docs/incremental.md): no lookback, nothing missed
when a build runs during a load, nothing read twice.

A load that died leaves its row `running`; the next load of the vendor, holding the lock, marks it
`abandoned` (the rows it did commit are valid rows, and now readable). When the dead load's package is
still in the local dlt cache, that next command first finishes it as a load of its own, logged
`recovered` with `recovers` = the dead load's loaded_at, and re-stamps the dead load's rows with its own
loaded_at (dbt may have passed the dead one), then loads its input under another row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest.db import Connection

TABLE = "_gridhouse_loads"


def ensure_log(db, dataset: str) -> None:  # noqa: ANN001 - a psycopg connection
    from psycopg import sql

    log = sql.SQL("{}.{}").format(sql.Identifier(dataset), sql.Identifier(TABLE))
    db.execute(
        sql.SQL(
            "create table if not exists {} ("
            "loaded_at timestamp with time zone primary key, "
            "finished_at timestamp with time zone, "
            "status varchar not null, "
            "files integer, "
            "read bigint, "
            "loaded bigint, "
            "quarantined bigint)"
        ).format(log)
    )
    # added later: a log made before them gets them here
    db.execute(
        sql.SQL(
            "alter table {} add column if not exists corrected bigint, "
            "add column if not exists recovers timestamp with time zone"
        ).format(log)
    )


def lock_key(dataset: str) -> str:
    # One lock per vendor: its loads never overlap, so their loaded_at grow in the order they run.
    return f"gridhouse load {dataset}"


@contextlib.contextmanager
def vendor_lock(conn: Connection, dataset: str) -> Iterator[Any]:
    """Hold the vendor's load lock; yields the autocommit psycopg connection that holds it."""
    with conn.connect(autocommit=True) as db:
        db.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (lock_key(dataset),))
        try:
            yield db
        finally:
            db.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (lock_key(dataset),))


@contextlib.contextmanager
def logged_load(conn: Connection, dataset: str) -> Iterator[LoadStamp]:
    """Hold the vendor's load lock and its log row for one load; yields the load's `_loaded_at`.
    The log table exists: ensure_raw_tables() made it with the vendor's raw tables."""
    with vendor_lock(conn, dataset) as db, log_row(db, dataset) as stamp:
        yield stamp


Forget = Callable[[Any, list[datetime]], None]  # (db, stamps of loads that wrote rows but did not finish)


@contextlib.contextmanager
def log_row(
    db: Any,
    dataset: str,
    *,
    status: str = "finished",
    recovers: datetime | None = None,
    forget: Forget | None = None,
) -> Iterator[LoadStamp]:
    """One load's log row, on `db`, the connection that holds the vendor's lock (vendor_lock).

    The row ends with `status` and the stamp's counts, in one transaction with `stamp.remember` (the
    loader's memory); `failed` when the block raised. `forget` is told the loads that ended without
    finishing (found dead here, or this one failing), whose rows the loader's memory does not describe.
    """
    from psycopg import sql

    log = sql.SQL("{}.{}").format(sql.Identifier(dataset), sql.Identifier(TABLE))
    with db.transaction():
        dead = db.execute(
            sql.SQL(
                "update {} set status = 'abandoned', finished_at = clock_timestamp() where status = 'running' "
                "returning loaded_at"
            ).format(log)
        ).fetchall()
        if dead and forget is not None:
            forget(db, [row[0] for row in dead])
    # Strictly later than every earlier load, even if the server's clock stepped back.
    (loaded_at,) = db.execute(
        sql.SQL(
            "insert into {log} (loaded_at, status, recovers) "
            "select greatest(clock_timestamp(), max(loaded_at) + interval '1 microsecond'), 'running', %s "
            "from {log} returning loaded_at"
        ).format(log=log),
        (recovers,),
    ).fetchone()
    stamp = LoadStamp(loaded_at)
    try:
        yield stamp
        with db.transaction():  # the memory and the status are one change: both or neither
            if stamp.remember is not None:
                stamp.remember(db)
            _end(db, log, stamp, status)
    except BaseException:
        # The database may be what failed: then the row stays running and the next load abandons it.
        with contextlib.suppress(Exception), db.transaction():
            if forget is not None:
                forget(db, [stamp.loaded_at])
            _end(db, log, stamp, "failed")
        raise


def _end(db: Any, log: Any, stamp: LoadStamp, status: str) -> None:
    from psycopg import sql

    db.execute(
        sql.SQL(
            "update {} set status = %s, finished_at = clock_timestamp(), files = %s, read = %s, "
            "loaded = %s, corrected = %s, quarantined = %s where loaded_at = %s"
        ).format(log),
        (status, stamp.files, stamp.read, stamp.loaded, stamp.corrected, stamp.quarantined, stamp.loaded_at),
    )


def unfinished(db: Any, dataset: str, stamps: list[datetime]) -> list[datetime]:
    """Those of `stamps` that the log holds as loads that did not finish (running, failed, abandoned)."""
    from psycopg import sql

    query = sql.SQL(
        "select loaded_at from {}.{} where loaded_at = any(%s) and status in ('running', 'failed', 'abandoned')"
    ).format(sql.Identifier(dataset), sql.Identifier(TABLE))
    return [row[0] for row in db.execute(query, (stamps,))]


@dataclass
class LoadStamp:
    """One load's `_loaded_at` and, once it ends, its counts for the log and what it remembers."""

    loaded_at: datetime
    files: int | None = None
    read: int | None = None
    loaded: int | None = None
    corrected: int | None = None
    quarantined: int | None = None
    remember: Callable[[Any], None] | None = None  # writes the loader's memory in the log's transaction
