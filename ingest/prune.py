"""`gridhouse prune`: apply the smart-home retention tiers (seed 003) on plain PostgreSQL.

Tiers (dbt vars in dbt_project/dbt_project.yml, overridable on the command line):
  raw      raw_devices.readings, marts.fct_device_readings   device_retention_raw_days      (7)
  hourly   marts.fct_device_energy_hourly                    device_retention_hourly_days   (90)
  daily    marts.fct_device_energy_daily                     device_retention_daily_days    (730)
  monthly  marts.fct_device_energy_monthly                   device_retention_monthly_days  (null = forever)

Rows older than `as_of - days` are deleted (local days and months by their start in the home's time
zone). The rollups are never fully refreshed and never recompute a bucket older than what their source
still holds whole (macros/timescale/rollup.sql), so each tier keeps its history after the tier below it
is pruned. With TimescaleDB the rollups are continuous aggregates and fct_device_readings a hypertable,
all with retention policies: prune leaves them to the policies and prunes only the loader's raw table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import yaml
from psycopg import errors, sql

from ingest.build import DBT_PROJECT_DIR
from ingest.db import Connection
from ingest.errors import GridhouseError


@dataclass(frozen=True)
class Tier:
    name: str
    schema: str
    table: str
    time_sql: str  # SQL expression of the row's time (timestamptz)
    var: str


TIERS = (
    Tier("raw", "raw_devices", "readings", "timestamp_iso::timestamptz", "device_retention_raw_days"),
    Tier("raw", "marts", "fct_device_readings", "measured_at", "device_retention_raw_days"),
    Tier("hourly", "marts", "fct_device_energy_hourly", "hour_start", "device_retention_hourly_days"),
    Tier("daily", "marts", "fct_device_energy_daily", "local_day at time zone time_zone", "device_retention_daily_days"),
    Tier(
        "monthly", "marts", "fct_device_energy_monthly", "local_month at time zone time_zone",
        "device_retention_monthly_days",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Pruned:
    tier: str
    relation: str
    keep_days: int | None
    cutoff: datetime | None
    rows: int  # deleted (or, in a dry run, that would be)


def configured_days() -> dict[str, int | None]:
    """The tiers' days from the dbt project's vars."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    values = project.get("vars") or {}
    out: dict[str, int | None] = {}
    for tier in TIERS:
        value = values.get(tier.var)
        out[tier.name] = None if value in (None, "null", "") else int(value)
    return out


def prune(
    conn: Connection,
    as_of: datetime | None = None,
    overrides: dict[str, int | None] | None = None,
    dry_run: bool = False,
) -> list[Pruned]:
    """Delete what each tier no longer keeps; returns one line per tier."""
    days = configured_days()
    for name, value in (overrides or {}).items():
        if value is not None:
            if value < 0:
                raise GridhouseError(f"--{name}-days {value}: give 0 or more days")
            days[name] = value
    now = as_of or datetime.now(UTC)
    results: list[Pruned] = []
    with conn.connect() as db:
        for tier in TIERS:
            relation = f"{tier.schema}.{tier.table}"
            keep = days[tier.name]
            # Only tables: with TimescaleDB the rollups are continuous aggregates (views) that their
            # retention policies prune.
            kind = db.execute(
                "select relkind from pg_class where oid = to_regclass(%s)", (relation,)
            ).fetchone()
            if keep is None or not kind or kind[0] not in ("r", "p"):
                results.append(Pruned(tier.name, relation, keep, None, 0))
                continue
            cutoff = now - timedelta(days=keep)
            where = sql.SQL("{} < %s").format(sql.SQL(tier.time_sql))
            target = sql.Identifier(tier.schema, tier.table)
            try:
                if dry_run:
                    query = sql.SQL("select count(*) from {} where {}").format(target, where)
                    count = int(db.execute(query, (cutoff,)).fetchone()[0])  # type: ignore[index]
                else:
                    count = db.execute(
                        sql.SQL("delete from {} where {}").format(target, where), (cutoff,)
                    ).rowcount
            except errors.InsufficientPrivilege:
                raise GridhouseError(
                    f"prune: no right to delete from {relation}; connect as its owner"
                ) from None
            results.append(Pruned(tier.name, relation, keep, cutoff, count))
        if dry_run:
            db.rollback()
        else:
            db.commit()
    return results
