"""Re-running the whole pipeline on the same input changes nothing: no duplicates, same results."""

from __future__ import annotations

from conftest import FIXTURES, requires_fixtures, rows

from ingest.build import build
from ingest.pipeline import load

pytestmark = requires_fixtures


# Staleness is measured against the wall clock: its age grows between two runs by design, and every
# alert view and fleet_energy_now show the clock they were read at (checked_at, as_of).
CLOCK_DEPENDENT = {"alerts.battery_stale": {"value", "message"}, "marts.fleet_energy_now": {"as_of"}}


def _fingerprint(conn) -> dict[str, tuple]:
    """Row count and an order-independent hash of every row, per table in staging/marts/alerts."""
    relations = rows(
        conn,
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('marts', 'alerts') or table_schema like 'raw_%%' order by 1, 2",
    )
    prints = {}
    for schema, table in relations:
        if table.startswith(("_dlt", "_gridhouse")):  # dlt's and our own load logs: a row per run, by design
            continue
        volatile = {"_loaded_at", "_dlt_load_id", "loaded_at", "dbt_updated_at", "last_refreshed_at"}
        volatile |= {"checked_at"} | CLOCK_DEPENDENT.get(f"{schema}.{table}", set())
        columns = [
            c
            for (c,) in rows(
                conn,
                "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
                "order by ordinal_position",
                (schema, table),
            )
            if c not in volatile and not c.startswith("dbt_")
        ]
        select = ", ".join(f'"{c}"' for c in columns)
        (count, digest) = rows(
            conn,
            f'select count(*), coalesce(sum(hashtext(t::text)::numeric), 0) from (select {select} from "{schema}"."{table}") as t',
        )[0]
        prints[f"{schema}.{table}"] = (count, digest)
    return prints


def test_load_and_build_twice_gives_the_same_warehouse(fresh_db):
    for source in ("batteries", "meters", "circuits"):
        load(source, FIXTURES / source, fresh_db)
    assert build(fresh_db, quiet=True).success
    first = _fingerprint(fresh_db)
    for source in ("batteries", "meters", "circuits"):
        load(source, FIXTURES / source, fresh_db, full_refresh=True)
    assert build(fresh_db, quiet=True).success
    second = _fingerprint(fresh_db)
    assert first["raw_batteries.telemetry"][0] == 375
    assert second == first
