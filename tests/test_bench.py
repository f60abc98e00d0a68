"""The benchmark harness (bench/): goals and ratios, the JSON rows, and one step on a tiny fleet.

The big runs are `make bench`; here only what needs no big data: the ratio / goal logic, the JSON
writer, the growth step's arithmetic on given timings, the load step's row from load_vs_copy's figures,
the incremental step's check that a backfill moves the marts' first buckets, and the PostgreSQL storage step measured on a one-battery, one-day warehouse.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import scalar

from ingest.db import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT))  # bench/ is a folder of scripts beside the packages, not installed
from bench import growth, incremental, load, storage  # noqa: E402
from bench.harness import START, Result, Warehouse, fleet_knobs, render, write_json  # noqa: E402


def test_ratio_and_goal_both_ways():
    slow = Result("s", "incremental", 30.0, 200.0, "s", goal="<= 0.10")
    assert slow.ratio == pytest.approx(0.15)
    assert slow.met is False
    fast = Result("s", "incremental", 12.0, 200.0, "s", goal="<= 0.10")
    assert fast.ratio == pytest.approx(0.06) and fast.met is True
    loader = Result("s", "load", 420_000.0, 600_000.0, "rows/s", goal=">= 0.6")
    assert loader.ratio == pytest.approx(0.7) and loader.met is True
    assert Result("s", "context", 1.0, 2.0, "s").met is None  # no goal: shown, not judged
    assert Result("s", "no baseline", 1.0, 0.0, "s", goal="<= 1").ratio is None
    with pytest.raises(ValueError):
        _ = Result("s", "bad", 1.0, 1.0, "s", goal="about 1").met


def test_json_rows_carry_ratio_and_met(tmp_path: Path, capsys):
    rows = [
        Result("alerts", "views", 3.0, 2.0, "ms", goal="<= 1.5", detail={"repeat": 5}),
        Result("storage", "indexes vs table", 40.0, 100.0, "B/point", goal="<= 0.30"),
    ]
    doc = write_json(rows, tmp_path / "out" / "bench.json", scale=0.5)
    assert json.loads((tmp_path / "out" / "bench.json").read_text()) == json.loads(json.dumps(doc))
    assert doc["scale"] == 0.5
    first, second = doc["rows"]
    assert {"name", "value", "baseline", "ratio", "goal", "met"} <= set(first)
    assert (first["ratio"], first["met"], first["detail"]) == (1.5, True, {"repeat": 5})
    assert (second["ratio"], second["met"]) == (0.4, False)
    render(rows, caption="test")
    out = capsys.readouterr().out
    assert "1.500" in out and "0.400" in out and "<= 0.30" in out


def test_fleet_scales_entities_not_days():
    one, tenth = fleet_knobs(1), fleet_knobs(0.1)
    assert tenth["homes"] == round(one["homes"] * 0.1) or tenth["homes"] == 1
    assert tenth["batteries"] == 1 and tenth["circuits_per_sensor"] == one["circuits_per_sensor"]
    assert "days" not in one


class _Timings:
    """A workspace that hands out warehouses with given timings (no database)."""

    def __init__(self, by_days: dict[int, Warehouse]) -> None:
        self.by_days = by_days

    def warehouse(self, days: int) -> Warehouse:
        return self.by_days[days]


def test_growth_ratio_is_whole_pipeline_10x_over_1x():
    def w(days: int, rows: int, load_s: float, build_s: float) -> Warehouse:
        return Warehouse(None, Path("."), days, rows, load_s, build_s)  # type: ignore[arg-type]

    ws = _Timings({9: w(9, 1_000, 4.0, 16.0), 90: w(90, 10_000, 50.0, 180.0)})
    (row,) = growth.run(ws)  # type: ignore[arg-type]
    assert (row.value, row.baseline) == (230.0, 20.0)
    assert row.ratio == pytest.approx(11.5) and row.met is False
    assert row.detail["rows_ratio"] == 10.0 and row.detail["10x"]["build_s"] == 180.0


def test_load_row_from_load_vs_copy_figures():
    row = load.result_from(
        {"rows": 1_000_000, "runs": 5, "dlt_rows_per_s": 300_000, "copy_rows_per_s": 600_000, "ratio": 0.5}
    )
    assert (row.value, row.baseline, row.ratio, row.met) == (300_000, 600_000, 0.5, False)
    assert "median of 5 runs" in row.name


def test_backfill_detail_computes_whether_the_marts_start_earlier():
    from datetime import datetime, timedelta

    back = timedelta(days=incremental.BACKFILL_DAYS)
    hour, local = datetime(2024, 4, 1, 0, 0), datetime(2024, 3, 31, 0, 0)
    before = {
        "marts.fct_battery_daily": START,
        "marts.fct_circuit_usage_hourly": hour,
        "marts.fct_device_energy_daily": local,
    }
    moved = {"marts.fct_battery_daily": START - back, "marts.fct_circuit_usage_hourly": hour - back}
    good = incremental.backfill_detail(before, {**moved, "marts.fct_device_energy_daily": local - back})
    assert good["marts_start_10_days_earlier"] is True
    assert good["battery_daily_first_day"] == good["expected_first_day"] == str(START - back)
    assert all(m["moved"] for m in good["mart_starts"].values())
    # one mart that did not take the old days in (or is empty) is enough to say no
    for stuck in (local, None):
        bad = incremental.backfill_detail(before, {**moved, "marts.fct_device_energy_daily": stuck})
        assert bad["marts_start_10_days_earlier"] is False
        assert bad["mart_starts"]["marts.fct_device_energy_daily"]["moved"] is False


def test_storage_step_on_a_tiny_warehouse(fresh_db, tmp_path: Path):
    """The storage rows of a one-battery, one-day tree whose points are in battery_telemetry's storage
    table (written here directly: the step measures the table, dbt is tested elsewhere)."""
    import simulator

    tree = tmp_path / "fleet"
    simulator.simulate(tree, seed=1, families="batteries", batteries=1, days=1, events=False)
    (telemetry,) = (tree / "batteries" / "telemetry").glob("*.json")
    points = [
        (telemetry.stem, s["name"], t, v)
        for s in json.loads(telemetry.read_bytes())["series"]
        for t, v in s["data"]
    ]
    with fresh_db.connect() as db:
        db.execute("create schema intermediate")
        db.execute(
            f"create table {storage.STORE} (asset_id text, metric text, epoch_ms bigint, value float8)"
        )
        with db.cursor().copy(f"copy {storage.STORE} from stdin") as copy:
            for point in points:
                copy.write_row(point)
        db.execute(f"create index on {storage.STORE} (epoch_ms)")
        db.commit()

    plain, indexes = storage.postgres_rows(Warehouse(fresh_db, tree, 1))

    rows = scalar(fresh_db, f"select count(*) from {storage.STORE}")
    table = scalar(fresh_db, f"select pg_table_size('{storage.STORE}')")
    index = scalar(fresh_db, f"select pg_indexes_size('{storage.STORE}')")
    raw_per_point = telemetry.stat().st_size / len(points)
    assert (
        rows
        == len(points)
        == json.loads((tree / "manifest.json").read_text())["counts"]["batteries"]["points"]
    )
    assert plain.value == pytest.approx((table + index) / rows)
    assert plain.baseline == pytest.approx(raw_per_point)
    assert plain.ratio == pytest.approx((table + index) / rows / raw_per_point)
    assert (indexes.value, indexes.baseline) == (pytest.approx(index / rows), pytest.approx(table / rows))
    assert indexes.ratio == pytest.approx(index / table)
    assert indexes.met == (index / table <= 0.30)
    assert plain.detail["rows"] == rows and list(plain.detail["indexes"]) == [
        "intermediate.int_batteries__telemetry_scaled_epoch_ms_idx"
    ]
