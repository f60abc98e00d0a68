"""Views that pollers and BI tools read stay in place while the relations under them are rebuilt.

dbt swaps in a new table or view and drops the old one with cascade, which drops every view over it until
the build recreates them, and for good after `dbt build --select <parent>`. The dimensions under the alert
views and the BI marts instead recompute every row and write them over the table they have (dbt's
delete+insert on their key, one transaction), and views use the `view_in_place` materialization (create or
replace view when their columns stay, macros/materializations/view_in_place.sql), so the views over them
keep their identity (the same oid) through any rebuild of their parents, and a poller never sees "relation
does not exist". The rows themselves are replaced: a new asset shows up."""

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


def test_views_over_views_keep_their_identity_when_those_views_are_rebuilt(fresh_db):
    ensure_raw_tables(fresh_db)
    selection = ["--select", "+fct_home_energy_summary", "+int_circuits__power_holds"]
    assert run_dbt(fresh_db, ["build", *selection, "--exclude-resource-type", "test"], quiet=True).success
    over_views = ("marts.fct_home_energy_summary", "intermediate.int_circuits__power_holds")
    before = {v: scalar(fresh_db, "select to_regclass(%s)::oid", (v,)) for v in over_views}
    assert all(before.values()), before

    parents = [
        "fct_home_energy_daily",
        "fct_home_energy_monthly",
        "int_devices__home_hours",
        "int_circuits__power",
    ]
    assert run_dbt(
        fresh_db, ["build", "--select", *parents, "--exclude-resource-type", "test"], quiet=True
    ).success
    assert {v: scalar(fresh_db, "select to_regclass(%s)::oid", (v,)) for v in over_views} == before
