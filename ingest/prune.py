"""`gridhouse prune`: apply the smart-home retention tiers (seed 003) on plain PostgreSQL.

Tiers (dbt vars in dbt_project/dbt_project.yml, overridable on the command line):
  raw      raw_devices.readings                 device_retention_raw_days      (7)
  hourly   marts.fct_device_energy_hourly        device_retention_hourly_days   (90)
  daily    marts.fct_home_energy_daily           device_retention_daily_days    (730)
  monthly  marts.fct_home_energy_monthly         device_retention_monthly_days  (null = forever)

Rows older than `as_of - days` are deleted. The rollups are incremental and never fully refreshed, so
each tier keeps its history after the tier below it is pruned. With TimescaleDB the hourly, daily and
monthly tables carry retention policies (macros/timescale/retention_tiers.sql) and pruning them here is
harmless; the raw table is the loader's and is pruned here in both cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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
    time_sql: str  # SQL expression of the row's time
    var: str


TIERS = (
    Tier("raw", "raw_devices", "readings", "timestamp_iso::timestamptz", "device_retention_raw_days"),
    Tier("hourly", "marts", "fct_device_energy_hourly", "hour_start", "device_retention_hourly_days"),
    Tier("daily", "marts", "fct_home_energy_daily", "day_start", "device_retention_daily_days"),
    Tier("monthly", "marts", "fct_home_energy_monthly", "month_start", "device_retention_monthly_days"),
)


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
            exists = db.execute("select to_regclass(%s) is not null", (relation,)).fetchone()
            if keep is None or not (exists and exists[0]):
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
            record_watermarks(db, [r for r in results if r.cutoff is not None])
            db.commit()
    return results


WATERMARKS_DDL = """
create table if not exists raw_devices.retention_watermarks (
    tier text primary key,
    pruned_before timestamptz not null,
    pruned_at timestamptz not null default now()
)"""


def record_watermarks(db: Any, results: list[Pruned]) -> None:
    """Remember how far each tier was pruned: the incremental rollups never recompute a period that
    starts before its source tier's watermark (macros/timescale/retention_tiers.sql)."""
    if not results:
        return
    db.execute("create schema if not exists raw_devices")
    db.execute(WATERMARKS_DDL)
    for r in results:
        db.execute(
            "insert into raw_devices.retention_watermarks (tier, pruned_before) values (%s, %s) "
            "on conflict (tier) do update set pruned_before = greatest("
            "raw_devices.retention_watermarks.pruned_before, excluded.pruned_before), pruned_at = now()",
            (r.tier, r.cutoff),
        )
