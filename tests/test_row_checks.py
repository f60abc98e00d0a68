"""The row_checks generic test (macros/tests/row_checks.sql) folds a model's column checks into one query:
it must still fail on each broken row, naming the check, and pass on good rows. Checked on two marts
built empty and then given rows by hand: dim_battery_series (accepted values, a unique series) and
fct_circuit_usage_hourly (ranges, a unique hour). dbt stores the failures, so the test reads exactly
what was reported."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import rows

from ingest.build import run_dbt
from ingest.pipeline import ensure_raw_tables

FILLER = {"text": "x", "integer": 0, "bigint": 0, "smallint": 0, "double precision": 0.0}


@pytest.fixture
def empty_marts(fresh_db):
    ensure_raw_tables(fresh_db)
    selection = ["--select", "+dim_battery_series", "+fct_circuit_usage_hourly"]
    assert run_dbt(fresh_db, ["build", *selection, "--exclude-resource-type", "test"], quiet=True).success
    return fresh_db


def insert(conn, table: str, values: list[dict[str, Any]]) -> None:
    """Rows with the given values; every other not-null column gets a filler of its type."""
    schema, name = table.split(".")
    required = rows(
        conn,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = %s and table_name = %s and is_nullable = 'NO'",
        (schema, name),
    )
    with conn.connect() as db:
        for given in values:
            row = {c: FILLER.get(t, "2024-04-01T00:00:00Z") for c, t in required} | given
            columns = ", ".join(row)
            marks = ", ".join(["%s"] * len(row))
            db.execute(f"insert into {table} ({columns}) values ({marks})", list(row.values()))


def failures(conn, model: str) -> list[str]:
    """The failures row_checks reported on the model (stored by --store-failures), sorted."""
    result = run_dbt(conn, ["test", "--select", model, "--store-failures"], quiet=True)
    (audit,) = rows(
        conn,
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_schema = 'data_quality' and table_name like %s",
        (f"row_checks_{model}"[:30] + "%",),  # dbt cuts long test names to 30 characters and a hash
    )[0]
    found = sorted(r[0] for r in rows(conn, f"select failure from {audit}"))
    assert result.success == (not found)
    return found


def test_accepted_values_and_unique(empty_marts):
    series = "marts.dim_battery_series"
    good = {"asset_id": "a1", "metric": "BatteryExportKwh", "meter_point": None, "unit": "kWh"}
    insert(
        empty_marts,
        series,
        [good, {"asset_id": "a1", "metric": "Soc", "meter_point": "submeter", "unit": "%"}],
    )
    assert failures(empty_marts, "dim_battery_series") == []

    insert(
        empty_marts,
        series,
        [
            good,  # the series again
            {"asset_id": "a2", "metric": "PowerWatt-roof", "meter_point": "roof", "unit": "Wh"},
            {"asset_id": "a3", "metric": "Temperature", "meter_point": None, "unit": "°C"},  # null passes
        ],
    )
    assert failures(empty_marts, "dim_battery_series") == [
        "(asset_id, metric) appears 2 times",
        "meter_point not in (mainmeter, submeter)",
        "unit not in (kWh, W, %, °C)",
    ]


def test_ranges(empty_marts):
    hours = "marts.fct_circuit_usage_hourly"
    insert(
        empty_marts,
        hours,
        [
            {"circuit_id": "c1", "hour_start": "2024-04-01T00:00:00Z", "energy_kwh": 0.0, "coverage": 1.0},
            {"circuit_id": "c1", "hour_start": "2024-04-01T01:00:00Z", "energy_kwh": None, "coverage": None},
        ],
    )
    assert failures(empty_marts, "fct_circuit_usage_hourly") == []

    insert(
        empty_marts,
        hours,
        [
            {"circuit_id": "c2", "hour_start": "2024-04-01T00:00:00Z", "energy_kwh": -0.5, "coverage": 1.5},
            {"circuit_id": "c3", "hour_start": "2024-04-01T00:00:00Z", "energy_kwh": 2.0, "coverage": -0.1},
        ],
    )
    # a negative hour is a circuit that fed back more than it drew (solar): no failure
    assert failures(empty_marts, "fct_circuit_usage_hourly") == [
        "coverage < 0",
        "coverage > 1.000001",
    ]
