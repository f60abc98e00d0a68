"""Circuit marts and `gridhouse usage` against the simulator's truth (simulator/truth.py computes it
with the same held-power rule from the values it wrote): hourly kWh per circuit, organisation days,
the usage command's figures and errors, and an incremental run across a day boundary."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from conftest import new_database, rows, scalar

from ingest import cli
from ingest.build import run_dbt
from ingest.db import Connection
from ingest.pipeline import load

CIRCUIT_MODELS = "+fct_org_usage_daily +fct_circuit_usage_hourly +int_circuits__power_holds +dim_brands"
REL = 0.005  # the bar: within 0.5 % of the truth


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def build(conn: Connection) -> None:
    result = run_dbt(conn, ["build", "--select", CIRCUIT_MODELS], quiet=True)
    assert result.success, dict(result.statuses)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator import simulate

    out = tmp_path_factory.mktemp("circuit-fleet")
    simulate(out, seed=11, preset="small", families="circuits")
    return out


@pytest.fixture(scope="module")
def warehouse(server, fleet: Path, tmp_path_factory: pytest.TempPathFactory) -> Connection:
    """Day one loaded and built, then day two loaded and built incrementally."""
    conn = new_database(server, "circuit_marts")
    days = sorted((fleet / "circuits" / "power").glob("*.json"))
    assert len(days) == 2
    first = tmp_path_factory.mktemp("circuits-day1") / "circuits"
    (first / "power").mkdir(parents=True)
    shutil.copy(fleet / "circuits" / "init.sql", first / "init.sql")
    shutil.copy(days[0], first / "power" / days[0].name)
    load("circuits", first, conn)
    build(conn)
    load("circuits", fleet / "circuits", conn)
    build(conn)
    return conn


def test_hourly_kwh_per_circuit_matches_truth(warehouse, fleet):
    truth = {
        (r["duid"], int(r["circuit_number"]), r["hour_utc"]): r
        for r in read_csv(fleet / "truth" / "circuit_hourly.csv")
    }
    got = {
        (duid, number, hour.strftime("%Y-%m-%dT%H:%M:%SZ")): (kwh, covered, samples)
        for duid, number, hour, kwh, covered, samples in rows(
            warehouse,
            "select c.duid, h.circuit_number, h.hour_start at time zone 'UTC', h.energy_kwh, "
            "h.covered_seconds, h.samples from marts.fct_circuit_usage_hourly as h "
            "join marts.dim_circuits as c using (circuit_id)",
        )
    }
    assert set(got) == set(truth)
    worst = 0.0
    for key, want in truth.items():
        kwh, covered, samples = got[key]
        expected = float(want["energy_kwh"])
        assert kwh == pytest.approx(expected, rel=REL, abs=1e-6), key
        if expected:
            worst = max(worst, abs(kwh - expected) / expected)
        assert covered == pytest.approx(float(want["covered_s"]), abs=1), key
        assert samples == int(want["samples"]), key
    total = sum(float(r["energy_kwh"]) for r in truth.values())
    assert scalar(warehouse, "select sum(energy_kwh) from marts.fct_circuit_usage_hourly") == pytest.approx(
        total, rel=1e-6
    )
    assert worst < REL


def test_org_daily_matches_truth_and_average_is_total_over_reporting(warehouse, fleet):
    truth = {(r["organization_id"], r["day"]): r for r in read_csv(fleet / "truth" / "org_daily.csv")}
    got = {
        (org, day.isoformat()): (kwh, mean_w, reporting, avg_kwh, avg_w)
        for org, day, kwh, mean_w, reporting, avg_kwh, avg_w in rows(
            warehouse,
            "select organization_id, usage_date, total_energy_kwh, total_mean_power_w, circuits_reporting, "
            "avg_energy_kwh_per_circuit, avg_power_w_per_circuit from marts.fct_org_usage_daily",
        )
    }
    assert set(got) == set(truth)
    for key, want in truth.items():
        kwh, mean_w, reporting, avg_kwh, avg_w = got[key]
        assert kwh == pytest.approx(float(want["energy_kwh"]), rel=REL)
        assert mean_w == pytest.approx(float(want["mean_power_w"]), rel=REL)
        assert reporting == int(want["circuits_reporting"])
        assert avg_kwh == pytest.approx(kwh / reporting, rel=1e-12)
        assert avg_w == pytest.approx(mean_w / reporting, rel=1e-12)
        assert avg_w == pytest.approx(float(want["mean_power_per_circuit_w"]), rel=REL)


def test_incremental_rerun_changes_nothing(warehouse):
    snapshot = (
        "select circuit_id, hour_start, energy_wh, covered_seconds, samples "
        "from marts.fct_circuit_usage_hourly order by 1, 2"
    )
    before = rows(warehouse, snapshot)
    build(warehouse)
    assert rows(warehouse, snapshot) == before


def run_cli(args: list[str], capsys, conn: Connection, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.setenv("GRIDHOUSE_DSN", conn.url())
    capsys.readouterr()  # drop anything printed before (dbt's own output)
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_usage_circuit_json_equals_truth_over_a_day(warehouse, fleet, capsys, monkeypatch):
    duid, number = rows(
        warehouse, "select duid, circuit_number from marts.dim_circuits order by 1, 2 limit 1"
    )[0]
    day = read_csv(fleet / "truth" / "org_daily.csv")[0]["day"]
    truth_kwh = sum(
        float(r["energy_kwh"])
        for r in read_csv(fleet / "truth" / "circuit_hourly.csv")
        if r["duid"] == duid and int(r["circuit_number"]) == number and r["hour_utc"].startswith(day)
    )
    code, out, err = run_cli(
        ["usage", "circuit", "--sensor", duid.lower(), "--number", str(number),
         "--from", f"{day}T00:00:00Z", "--to", f"{day}T00:00:00Z".replace(day, _next_day(day)),
         "--format", "json"],
        capsys, warehouse, monkeypatch,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["energy_kwh"] == pytest.approx(truth_kwh, rel=REL)
    assert result["mean_power_w"] == pytest.approx(truth_kwh * 1000 / 24, rel=REL)
    for key in (
        "circuit_id",
        "sensor_id",
        "duid",
        "circuit_number",
        "location_id",
        "organization_id",
        "brand_id",
    ):
        assert result[key] not in (None, "")
    assert result["duid"] == duid


def _next_day(day: str) -> str:
    return datetime.fromordinal(datetime.fromisoformat(day).toordinal() + 1).date().isoformat()


def test_usage_org_json_equals_org_truth(warehouse, fleet, capsys, monkeypatch):
    want = read_csv(fleet / "truth" / "org_daily.csv")[0]
    day = want["day"]
    code, out, err = run_cli(
        ["usage", "org", "--org", want["organization_id"], "--from", day, "--to", _next_day(day),
         "--format", "json"],
        capsys, warehouse, monkeypatch,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert set(result) >= {
        "total_energy_kwh",
        "total_mean_power_w",
        "circuits",
        "avg_energy_kwh_per_circuit",
        "avg_power_w_per_circuit",
        "organization_id",
        "organization_name",
    }
    assert result["organization_name"] == want["organization_name"]
    assert result["total_energy_kwh"] == pytest.approx(float(want["energy_kwh"]), rel=REL)
    assert result["total_mean_power_w"] == pytest.approx(float(want["mean_power_w"]), rel=REL)
    assert result["circuits"] == int(want["circuits_reporting"])
    assert result["avg_energy_kwh_per_circuit"] == pytest.approx(
        result["total_energy_kwh"] / result["circuits"], rel=1e-12
    )
    assert result["avg_power_w_per_circuit"] == pytest.approx(
        float(want["mean_power_per_circuit_w"]), rel=REL
    )


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["circuit", "--sensor", "nope", "--number", "1", "--from", "2024-04-01", "--to", "2024-04-02"], "--sensor"),
        (["circuit", "--sensor", "{duid}", "--number", "99", "--from", "2024-04-01", "--to", "2024-04-02"], "--number"),
        (["circuit", "--sensor", "{duid}", "--number", "1", "--from", "2024-04-02", "--to", "2024-04-01"], "--to"),
        (["circuit", "--sensor", "{duid}", "--number", "1", "--from", "noon", "--to", "2024-04-01"], "--from"),
        (["circuit", "--sensor", "{duid}", "--number", "1", "--from", "2030-01-01", "--to", "2030-01-02"], "--from"),
        (["org", "--org", "x'); drop table marts.dim_circuits; --", "--from", "2024-04-01", "--to", "2024-04-02"],
         "--org"),
        (["org", "--org", "{org}", "--from", "2030-01-01", "--to", "2030-01-02"], "--from"),
    ],
)  # fmt: skip
def test_usage_bad_parameters_give_one_line_errors(warehouse, capsys, monkeypatch, args, names):
    duid, org = rows(warehouse, "select duid, organization_id from marts.dim_circuits limit 1")[0]
    args = [a.format(duid=duid, org=org) for a in args]
    code, out, err = run_cli(["usage", *args], capsys, warehouse, monkeypatch)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert names in err
    assert scalar(warehouse, "select count(*) from marts.dim_circuits") > 0


def test_fixture_circuits_hour_is_covered_and_location_names_are_byte_exact(fixture_warehouse):
    per_hour = defaultdict(list)
    for circuit, samples, coverage in rows(
        fixture_warehouse, "select circuit_id, samples, coverage from marts.fct_circuit_usage_hourly"
    ):
        per_hour[circuit].append((samples, coverage))
    assert len(per_hour) == 36
    assert all(v == [(60, pytest.approx(59 / 60))] for v in per_hour.values())
    names = {r[0] for r in rows(fixture_warehouse, "select location_name from marts.dim_circuits")}
    assert "East\u2011NYC" in names


def test_bi_reader_reads_every_circuit_mart_and_nothing_raw(warehouse):
    import psycopg

    reader = Connection(warehouse.host, warehouse.port, "bi_reader", "", warehouse.dbname)
    marts = (
        "dim_brands",
        "dim_organizations",
        "dim_locations",
        "dim_sensors",
        "dim_circuits",
        "fct_circuit_usage_hourly",
        "fct_org_usage_daily",
    )
    with reader.connect() as db:
        for mart in marts:
            assert db.execute(f"select count(*) from marts.{mart}").fetchone()[0] > 0
    for relation in (
        "raw_circuits.power",
        "staging.stg_circuits__power",
        "intermediate.int_circuits__power_holds",
    ):
        with reader.connect() as db, pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(f"select * from {relation} limit 1")


def test_analyses_give_the_same_figures_as_the_command(warehouse, fleet, capsys, monkeypatch):
    import os

    duid, number, org = rows(
        warehouse,
        "select duid, circuit_number, organization_id from marts.dim_circuits order by 1, 2 limit 1",
    )[0]
    start, end = "2024-04-01T06:30:00Z", "2024-04-02T07:10:00Z"  # not on hour boundaries

    def analysis(name: str, variables: str) -> dict:
        result = run_dbt(warehouse, ["compile", "--select", name, "--vars", variables], quiet=True)
        assert result.success
        (path,) = Path(os.environ["DBT_TARGET_PATH"]).glob(f"compiled/**/analyses/{name}.sql")
        with warehouse.connect() as db:
            cursor = db.execute(path.read_text())
            names = [c.name for c in cursor.description]
            return dict(zip(names, cursor.fetchone(), strict=True))

    circuit = analysis(
        "circuit_usage", f'{{sensor: "{duid}", circuit_number: {number}, from: "{start}", to: "{end}"}}'
    )
    code, out, _ = run_cli(
        ["usage", "circuit", "--sensor", duid, "--number", str(number), "--from", start, "--to", end,
         "--format", "json"],
        capsys, warehouse, monkeypatch,
    )  # fmt: skip
    assert code == 0
    command = json.loads(out)
    assert float(circuit["energy_kwh"]) == pytest.approx(command["energy_kwh"], rel=1e-12)
    assert float(circuit["mean_power_w"]) == pytest.approx(command["mean_power_w"], rel=1e-12)
    organization = analysis("org_usage", f'{{org: "{org}", from: "{start}", to: "{end}"}}')
    code, out, _ = run_cli(
        ["usage", "org", "--org", org, "--from", start, "--to", end, "--format", "json"],
        capsys,
        warehouse,
        monkeypatch,
    )
    assert code == 0
    command = json.loads(out)
    for key in (
        "total_energy_kwh",
        "total_mean_power_w",
        "avg_energy_kwh_per_circuit",
        "avg_power_w_per_circuit",
    ):
        assert float(organization[key]) == pytest.approx(command[key], rel=1e-12), key
    assert organization["circuits"] == command["circuits"]
