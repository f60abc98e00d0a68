"""Meter marts against figures computed here, independently, from the vendor files themselves:
local-day totals of the real Exnaton fixtures, DST days with 92 / 100 quarter-hours, tariff split,
and an incremental re-run that changes nothing."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import FIXTURES, requires_fixtures, rows, scalar

from ingest.build import run_dbt
from ingest.db import Connection
from ingest.pipeline import load

ZURICH = ZoneInfo("Europe/Zurich")
IMPORT, EXPORT = "0100011D00FF", "0100021D00FF"
METER_MODELS = "+fct_meter_daily +fct_meter_tariff_daily +fct_meter_load_profile"


def local_day_totals(files: list[Path]) -> dict[tuple[str, date], dict[str, float]]:
    """Per (muid, Zurich local day): import kWh, export kWh and distinct intervals, from the raw JSON."""
    totals: dict[tuple[str, date], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    seen: dict[tuple[str, date], set[str]] = defaultdict(set)
    for path in files:
        body = json.loads(path.read_text())
        for record in body["data"] if isinstance(body, dict) else body:
            at = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
            key = (record["tags"]["muid"], at.astimezone(ZURICH).date())
            for code, side in ((IMPORT, "import"), (EXPORT, "export")):
                if code in record:
                    totals[key][side] += record[code]
                    seen[key].add(record["timestamp"])
    for key, stamps in seen.items():
        totals[key]["intervals"] = len(stamps)
    return totals


def build_meters(conn: Connection) -> None:
    result = run_dbt(conn, ["build", "--select", METER_MODELS], quiet=True)
    assert result.success, dict(result.statuses)


def daily(conn: Connection) -> dict[tuple[str, date], tuple]:
    return {
        (m, d): (imp, exp, net, expected, received, pct)
        for m, d, imp, exp, net, expected, received, pct in rows(
            conn,
            "select meter_id, local_date, import_kwh, export_kwh, net_kwh, intervals_expected, "
            "intervals_received, completeness_pct from marts.fct_meter_daily",
        )
    }


@requires_fixtures
def test_exnaton_fixture_local_day_totals_equal_fct_meter_daily(fixture_warehouse):
    truth = local_day_totals(sorted((FIXTURES / "meters").glob("*.json")))
    got = daily(fixture_warehouse)
    assert set(got) == set(truth)
    assert len(got) == 2 * 29  # February 2023 in UTC touches 29 Zurich days per meter
    for key, want in truth.items():
        imp, exp, net, expected, received, _ = got[key]
        assert (imp or 0.0) == pytest.approx(want["import"], abs=1e-9), key
        assert (exp or 0.0) == pytest.approx(want["export"], abs=1e-9), key
        assert net == pytest.approx(want["import"] - want["export"], abs=1e-9), key
        assert expected == 96
        assert received == want["intervals"]
    # The month as a whole, as the fixture README describes the files.
    assert scalar(fixture_warehouse, "select sum(import_kwh) from marts.fct_meter_daily") == pytest.approx(
        sum(v["import"] for v in truth.values())
    )


@requires_fixtures
def test_exnaton_fixture_tariffs_add_up_and_profile_covers_the_week(fixture_warehouse):
    split = rows(
        fixture_warehouse,
        "select t.meter_id, t.local_date, sum(t.import_kwh), max(d.import_kwh) "
        "from marts.fct_meter_tariff_daily as t join marts.fct_meter_daily as d using (meter_id, local_date) "
        "group by 1, 2",
    )
    for _meter, _day, tariffs, total in split:
        assert (tariffs or 0) == pytest.approx(total or 0, abs=1e-9)
    assert (
        scalar(
            fixture_warehouse,
            "select count(*) from marts.fct_meter_tariff_daily where tariff_name = 'unassigned'",
        )
        == 0
    )
    slots = scalar(
        fixture_warehouse,
        "select count(*) from marts.fct_meter_load_profile where mean_import_kwh is not null",
    )
    assert slots == 7 * 96
    assert (
        scalar(fixture_warehouse, "select count(distinct peak_hour) from marts.fct_meter_load_profile") == 1
    )


def write_exnaton(path: Path, muid: str, start: datetime, end: datetime, code: str, value) -> int:
    """An Exnaton-format file (newest first) with one value per quarter-hour in [start, end)."""
    records = []
    at = start
    i = 0
    while at < end:
        records.append(
            {
                "measurement": "energy",
                "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "tags": {"muid": muid, "quality": "measured"},
                code: value(i),
            }
        )
        at += timedelta(minutes=15)
        i += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"data": records[::-1]}))
    return len(records)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_dst_days_have_92_and_100_intervals_and_exact_totals(fresh_db, tmp_path):
    folder = tmp_path / "meters"
    # Two whole local days around each EU DST change of 2024, plus one ordinary day each side.
    for name, day in (("spring", date(2024, 3, 30)), ("autumn", date(2024, 10, 26))):
        start = datetime(day.year, day.month, day.day, tzinfo=ZURICH).astimezone(UTC)
        end_day = day + timedelta(days=3)
        end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=ZURICH).astimezone(UTC)
        write_exnaton(
            folder / f"{name}-in.json", "m-dst", start, end, IMPORT, lambda i: round(0.01 * (i % 7), 4)
        )
        write_exnaton(
            folder / f"{name}-out.json", "m-dst", start, end, EXPORT, lambda i: 0 if i % 3 else 0.05
        )
    load("meters", folder, fresh_db)
    build_meters(fresh_db)
    truth = local_day_totals(sorted(folder.glob("*.json")))
    got = daily(fresh_db)
    assert set(got) == set(truth)
    expected = {d: e for (_, d), (_, _, _, e, _, _) in got.items()}
    assert expected[date(2024, 3, 31)] == 92
    assert expected[date(2024, 10, 27)] == 100
    assert {e for d, e in expected.items() if d not in (date(2024, 3, 31), date(2024, 10, 27))} == {96}
    for key, want in truth.items():
        imp, exp, net, n_expected, received, pct = got[key]
        assert imp == pytest.approx(want["import"], abs=1e-9)
        assert exp == pytest.approx(want["export"], abs=1e-9)
        assert net == pytest.approx(want["import"] - want["export"], abs=1e-9)
        assert received == want["intervals"] == n_expected
        assert pct == 100
    # The autumn day's repeated hour lands twice in the heatmap's 02:00-03:00 slots, once each.
    days = scalar(
        fresh_db,
        "select max(days_observed) from marts.fct_meter_load_profile where meter_id = 'm-dst' and local_weekday = 7",
    )
    assert days == 2


def test_incremental_interval_fact_completes_late_readings_and_reruns_change_nothing(fresh_db, tmp_path):
    start, end = utc(2024, 1, 1), utc(2024, 1, 2)
    write_exnaton(tmp_path / "a" / "in.json", "m-inc", start, end, IMPORT, lambda i: 0.1)
    load("meters", tmp_path / "a", fresh_db)
    build_meters(fresh_db)
    assert scalar(fresh_db, "select count(*) from marts.fct_meter_interval where export_kwh is not null") == 0
    # The export of the same intervals arrives in a later load: the intervals are completed, not duplicated.
    write_exnaton(tmp_path / "b" / "out.json", "m-inc", start, end, EXPORT, lambda i: 0.02)
    load("meters", tmp_path / "b", fresh_db)
    build_meters(fresh_db)
    snapshot = "select * from marts.fct_meter_interval order by meter_id, interval_start"
    first = rows(fresh_db, snapshot)
    assert len(first) == 96
    assert all(r[4] == pytest.approx(0.1) and r[5] == pytest.approx(0.02) for r in first)
    build_meters(fresh_db)
    assert rows(fresh_db, snapshot) == first


@pytest.fixture(scope="module")
def meter_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator import simulate

    out = tmp_path_factory.mktemp("meter-fleet")
    simulate(out, seed=9, preset="small", families="meters")
    return out


@pytest.fixture(scope="module")
def meter_warehouse(server, meter_fleet: Path) -> Connection:
    from conftest import new_database

    conn = new_database(server, "meter_truth")
    load("meters", meter_fleet / "meters", conn)
    build_meters(conn)
    return conn


def test_simulated_local_day_totals_equal_truth_and_dst_days_have_92_and_100(meter_warehouse, meter_fleet):
    import csv

    with (meter_fleet / "truth" / "meter_daily.csv").open() as f:
        truth = {(r["muid"], date.fromisoformat(r["local_day"])): r for r in csv.DictReader(f)}
    got = daily(meter_warehouse)
    tenants = dict(rows(meter_warehouse, "select distinct meter_id, tenant_id from marts.fct_meter_daily"))
    assert set(got) == set(truth)
    for key, want in truth.items():
        imp, exp, net, expected, received, _ = got[key]
        assert (imp or 0.0) == pytest.approx(float(want["import_kwh"]), abs=1e-6), key
        assert (exp or 0.0) == pytest.approx(float(want["export_kwh"]), abs=1e-6), key
        assert net == pytest.approx(float(want["import_kwh"]) - float(want["export_kwh"]), abs=1e-6), key
        assert received == max(int(want["import_intervals"]), int(want["export_intervals"])), key
        assert tenants[key[0]] == want["tenant"]
        if key[1].month == 3 and key[1].day == 31:
            assert expected == 92
        elif key[1].month == 10 and key[1].day == 27:
            assert expected == 100
        else:
            assert expected == 96
    assert {d for _, d in truth} >= {date(2024, 3, 31), date(2024, 10, 27)}


def test_bi_reader_reads_every_meter_and_circuit_mart_and_nothing_raw(meter_warehouse):
    reader = Connection(meter_warehouse.host, meter_warehouse.port, "bi_reader", "", meter_warehouse.dbname)
    marts = ("fct_meter_interval", "fct_meter_daily", "fct_meter_load_profile", "fct_meter_tariff_daily")
    with reader.connect() as db:
        for mart in marts:
            db.execute(f"select * from marts.{mart} limit 1").fetchall()
    import psycopg

    for relation in (
        "raw_meters.readings",
        "staging.stg_meters__readings",
        "intermediate.int_meters__readings",
    ):
        with reader.connect() as db, pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(f"select * from {relation} limit 1")
