"""The incremental contract (docs/incremental.md): late history of any age reaches every mart after one
plain build, and the result equals a full refresh, table by table.

One simulated fleet of all four vendors: days 11-20 are loaded and built first, then days 1-10, which
are older than everything held, and built again. Every mart (and the incremental tables under them) is
then compared with what `--full-refresh` makes of the same raw data. The bookkeeping columns (the load a
row was computed from, the time a row was evaluated through) are left out: they say when, not what.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import rows, scalar

from ingest.build import build
from ingest.pipeline import load

FAMILIES = ("batteries", "meters", "circuits", "devices")
FLEET = {
    "batteries": 2,
    "meters": 2,
    "tenants": 1,
    "organizations": 1,
    "locations_per_org": 1,
    "sensors_per_location": 1,
    "circuits_per_sensor": 3,
    "homes": 2,
    "interval": 300,
}
TABLES = [
    "intermediate.int_batteries__telemetry_scaled",
    "intermediate.int_batteries__series_daily",
    "intermediate.int_batteries__health_steps_daily",
    "marts.fct_battery_daily",
    "marts.dim_battery_series",
    "marts.dim_batteries",
    "marts.fct_battery_health",
    "marts.fct_battery_low_soc_episodes",
    "marts.fct_meter_interval",
    "marts.fct_meter_daily",
    "marts.fct_meter_tariff_daily",
    "marts.fct_meter_load_profile",
    "marts.fct_circuit_usage_hourly",
    "marts.fct_org_usage_daily",
    "marts.fct_device_readings",
    "intermediate.int_devices__latest_state",
    "marts.fct_device_energy_hourly",
    "marts.fct_device_energy_daily",
    "marts.fct_device_energy_monthly",
    "marts.fct_home_energy_summary",
]
BOOKKEEPING = {"loaded_at", "evaluated_through"}


def simulated(out: Path, start: date, days: int) -> Path:
    from simulator.fleet import simulate

    simulate(out, seed=7, start=start, days=days, **FLEET)
    return out


def load_all(tree: Path, conn) -> None:  # noqa: ANN001 - a Connection
    for family in FAMILIES:
        load(family, tree / family, conn)


def snapshot(conn) -> dict[str, list[tuple]]:  # noqa: ANN001 - a Connection
    """Every table's rows without the bookkeeping columns, floats to 9 digits, sorted."""
    out = {}
    for table in TABLES:
        schema, name = table.split(".")
        columns = [
            c
            for (c,) in rows(
                conn,
                "select column_name from information_schema.columns "
                "where table_schema = %s and table_name = %s order by ordinal_position",
                (schema, name),
            )
            if c not in BOOKKEEPING
        ]
        assert columns, f"{table} does not exist"
        found = rows(conn, f"select {', '.join(columns)} from {table}")
        out[table] = sorted(
            (tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in found), key=repr
        )
    return out


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("late-history")
    return simulated(root / "days01_10", date(2024, 4, 1), 10), simulated(
        root / "days11_20", date(2024, 4, 11), 10
    )


def test_older_history_loaded_later_equals_a_full_refresh(fresh_db, trees):
    early, late = trees
    load_all(late, fresh_db)
    assert build(fresh_db, quiet=True).success
    newest_day = scalar(fresh_db, "select min(day_utc) from marts.fct_battery_daily")
    assert newest_day == date(2024, 4, 11)

    load_all(early, fresh_db)
    assert build(fresh_db, quiet=True).success
    incremental = snapshot(fresh_db)
    # the older days reached the per-day marts without a full refresh
    assert scalar(fresh_db, "select min(day_utc) from marts.fct_battery_daily") == date(2024, 4, 1)
    assert scalar(fresh_db, "select min(usage_date) from marts.fct_org_usage_daily") == date(2024, 4, 1)

    assert build(fresh_db, quiet=True, extra=["--full-refresh"]).success
    full = snapshot(fresh_db)
    for table in TABLES:
        assert full[table], f"{table} is empty: the comparison would prove nothing"
        assert incremental[table] == full[table], table


def test_a_build_with_nothing_new_changes_nothing(fresh_db, trees):
    early, _ = trees
    load_all(early, fresh_db)
    assert build(fresh_db, quiet=True).success
    before = snapshot(fresh_db)
    assert build(fresh_db, quiet=True).success
    assert snapshot(fresh_db) == before


def test_a_corrected_meter_interval_changes_every_meter_mart_by_the_difference(fresh_db, tmp_path):
    """Estimated 0.1007 kWh re-published as validated 9.999 kWh: after one plain build the interval, the
    day and the tariff split each move by exactly 9.999 - 0.1007, the load profile's mean for that
    quarter-hour by the difference over the days observed, and the audit table holds the old value."""
    from loader_trees import meter_record, write_json

    # One local day in Zurich (UTC+1 in March): 96 quarter-hours from 2023-03-01T23:00Z, 0.1 kWh each.
    starts = [f"2023-03-{1 + (23 * 60 + 15 * q) // 1440:02d}T{(23 + q // 4) % 24:02d}:{15 * (q % 4):02d}:00Z"
              for q in range(96)]  # fmt: skip
    corrected_at = starts[10]

    def publish(kwh: float, quality: str) -> None:
        data = [meter_record("m1", t, kwh if t == corrected_at else 0.1,
                             quality if t == corrected_at else "measured") for t in starts]  # fmt: skip
        write_json(tmp_path / "meters" / "m1.json", {"data": data})

    marts = {
        "interval": "select import_kwh from marts.fct_meter_interval where interval_start = %s",
        "day": "select import_kwh from marts.fct_meter_daily where meter_id = 'm1'",
        "tariff": "select sum(import_kwh) from marts.fct_meter_tariff_daily where meter_id = 'm1'",
        "profile": "select sum(mean_import_kwh) from marts.fct_meter_load_profile where meter_id = 'm1'",
    }

    def read() -> dict[str, float]:
        return {name: scalar(fresh_db, q, (corrected_at,) if "%s" in q else ()) for name, q in marts.items()}

    publish(0.1007, "estimated")
    load("meters", tmp_path / "meters", fresh_db)
    assert build(fresh_db, quiet=True).success
    before = read()
    assert before["day"] == pytest.approx(95 * 0.1 + 0.1007)

    publish(9.999, "validated")
    report = load("meters", tmp_path / "meters", fresh_db)
    assert report.corrected == 1
    assert build(fresh_db, quiet=True).success
    after = read()
    for name in marts:  # one day observed: the profile's mean moves by the whole difference too
        assert after[name] - before[name] == pytest.approx(9.999 - 0.1007, abs=1e-9), name
    assert (
        scalar(
            fresh_db,
            "select quality from marts.fct_meter_interval where interval_start = %s",
            (corrected_at,),
        )
        == "validated"
    )
    assert rows(fresh_db, "select value, quality from raw_meters.readings_replaced") == [
        (0.1007, "estimated")
    ]
