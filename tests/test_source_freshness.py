"""`dbt source freshness` gates what the vendors deliver, and only the vendors that have delivered: on a
warehouse where only batteries have loaded (the other vendors' raw tables do not even exist), it exits 0,
checks each vendor once (its load log), finds batteries fresh, and says the others were never loaded."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from test_battery_support import SimWarehouse, battery_sim_fixture  # noqa: F401 (the battery_sim fixture)

from ingest.build import DBT_PROJECT_DIR, dbt_env
from ingest.db import PROJECT_ROOT


def test_source_freshness_passes_with_one_vendor_loaded(battery_sim: SimWarehouse):
    from dbt.cli.main import dbtRunner

    said: list[str] = []

    def listen(event) -> None:  # noqa: ANN001 - a dbt EventMsg
        said.append(event.info.msg)

    os.environ.update(dbt_env(battery_sim.conn))
    result = dbtRunner(callbacks=[listen]).invoke(
        ["source", "freshness", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(PROJECT_ROOT)]
    )
    assert result.exception is None, result.exception
    assert result.success, "\n".join(said[-30:])  # `dbt source freshness` exits 0
    checked = {r.node.source_name: r for r in result.result.results if r.node.resource_type == "source"}
    assert {(name, r.node.name) for name, r in checked.items()} == {
        (vendor, "_gridhouse_loads") for vendor in ("batteries", "meters", "circuits", "devices")
    }
    assert {name: str(r.status) for name, r in checked.items()} == dict.fromkeys(checked, "pass")
    # batteries: its load, minutes ago; the others: never loaded, said so
    assert datetime.now(UTC) - checked["batteries"].max_loaded_at < timedelta(hours=2)
    never = {vendor for vendor in checked if any(f"source {vendor}: never loaded" in m for m in said)}
    assert never == {"meters", "circuits", "devices"}
