"""Views that pollers and BI tools read stay in place while the tables under them are rebuilt.

dbt's table materialization swaps in a new table and drops the old one with cascade, which drops every
view over it until the build recreates them, and for good after `dbt build --select <table>`. The tables
under the alert views and the BI marts replace their rows in place instead (strategy replace_all), so
those views keep their identity (the same oid) through any rebuild of their parents, and a poller never
sees "relation does not exist". The rows themselves are replaced: a new asset shows up."""

from __future__ import annotations

from conftest import rows, scalar

from ingest.build import run_dbt
from ingest.pipeline import ensure_raw_tables

VIEWS = (
    "alerts.battery_low_soc",
    "alerts.battery_stale",
    "alerts.battery_no_soc",
    "alerts.battery_vendor_warning",
    "marts.fleet_energy_now",
    "marts.fct_home_energy_summary",
)
PARENTS = ["dim_batteries", "dim_battery_series", "dim_devices", "dim_circuits"]


def oids(conn) -> dict[str, int]:
    return {view: scalar(conn, "select to_regclass(%s)::oid", (view,)) for view in VIEWS}


def test_views_keep_their_identity_when_their_tables_are_rebuilt(fresh_db):
    ensure_raw_tables(fresh_db)
    selection = ["--select", *(f"+{v.split('.')[1]}" for v in VIEWS), "+dim_circuits"]
    assert run_dbt(fresh_db, ["build", *selection, "--exclude-resource-type", "test"], quiet=True).success
    before = oids(fresh_db)
    assert all(before.values()), before

    with fresh_db.connect() as db:  # an asset arrives; the dimension under the alert views takes it in
        db.execute(
            "insert into raw_batteries.assets (device_id, description, state, _source_file, _loaded_at, "
            "_dlt_load_id) values ('a1', 'new', 'Ok', 'test', now(), 'test')"
        )
    # The tables alone, as an analytics engineer rebuilds one: nothing downstream is built again.
    assert run_dbt(
        fresh_db, ["build", "--select", *PARENTS, "--exclude-resource-type", "test"], quiet=True
    ).success
    assert oids(fresh_db) == before
    assert rows(fresh_db, "select asset_id from marts.dim_batteries") == [("a1",)]
