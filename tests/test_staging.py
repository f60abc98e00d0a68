"""The staging layer on the real fixtures: dbt build passes, and decoded values match the files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, rows, scalar

from ingest.db import PROJECT_ROOT
from ingest.sources.batteries import unit_of


def test_units_decoded_in_sql_match_the_loader(fixture_warehouse):
    pairs = rows(fixture_warehouse, "select distinct metric, unit from staging.stg_batteries__telemetry")
    assert len(pairs) >= 14
    for metric, unit in pairs:
        assert unit == unit_of(metric), metric


def test_asset_without_soc_has_no_percentage_rows(fixture_warehouse):
    count = scalar(
        fixture_warehouse,
        "select count(*) from staging.stg_batteries__telemetry where asset_id = %s and unit = '%%'",
        ("499eba1c-bd0b-46db-a861-f8795fcbf02e",),
    )
    assert count == 0
    assert scalar(fixture_warehouse, "select count(*) from staging.stg_batteries__telemetry") == 375


def test_soc_of_heerlen_goes_from_95_to_81(fixture_warehouse):
    doc = json.loads((FIXTURES / "batteries/telemetry/200e55ab-790b-4049-bf23-f84dc866dd32.json").read_text())
    (soc,) = [s["data"] for s in doc["series"] if s["name"] == "StateOfChargePercentage"]
    got = rows(
        fixture_warehouse,
        "select extract(epoch from measured_at) * 1000, value from staging.stg_batteries__telemetry "
        "where asset_id = '200e55ab-790b-4049-bf23-f84dc866dd32' and unit = '%%' order by measured_at",
    )
    assert [(int(t), v) for t, v in got] == [(t, float(v)) for t, v in sorted(soc)]
    assert (got[0][1], got[-1][1]) == (95.0, 81.0)


@pytest.mark.parametrize(
    ("file", "obis_id", "direction"),
    [("95ce3367.json", "1-0:1.29.0*255", "import"), ("1db7649e.json", "1-0:2.29.0*255", "export")],
)
def test_meter_readings_are_decoded(fixture_warehouse, file, obis_id, direction):
    records = json.loads((FIXTURES / "meters" / file).read_text())["data"]
    muid = records[0]["tags"]["muid"]
    key = next(k for k in records[0] if len(k) == 12)
    got = rows(
        fixture_warehouse,
        "select obis_id, direction, unit, count(*), sum(value), min(measured_at), max(measured_at) "
        "from staging.stg_meters__readings where meter_id = %s group by 1, 2, 3",
        (muid,),
    )
    assert len(got) == 1
    obis, dirn, unit, count, total, first, last = got[0]
    assert (obis, dirn, unit, count) == (obis_id, direction, "kWh", len(records))
    assert total == pytest.approx(sum(r[key] for r in records), rel=1e-12)
    assert first.isoformat() == "2023-02-01T00:00:00+00:00"
    assert last.isoformat() == "2023-02-28T23:45:00+00:00"


def test_location_names_keep_the_non_breaking_hyphen(fixture_warehouse):
    names = {
        r[0] for r in rows(fixture_warehouse, "select location_name from staging.stg_circuits__locations")
    }
    assert len(names) == 6
    assert all("\u2011" in n for n in names)
    assert "East\u2011NYC".encode() in {n.encode() for n in names}


def test_circuit_hierarchy_counts(fixture_warehouse):
    counts = {
        model: scalar(fixture_warehouse, f"select count(*) from staging.{model}")
        for model in (
            "stg_circuits__brands",
            "stg_circuits__organizations",
            "stg_circuits__locations",
            "stg_circuits__sensors",
            "stg_circuits__circuits",
            "stg_circuits__power",
        )
    }
    assert counts == {
        "stg_circuits__brands": 1,
        "stg_circuits__organizations": 3,
        "stg_circuits__locations": 6,
        "stg_circuits__sensors": 12,
        "stg_circuits__circuits": 36,
        "stg_circuits__power": 2160,
    }


def _tool_env(conn) -> dict[str, str]:
    env = dict(os.environ)
    env.update(conn.env())
    return env


def test_dbt_parse_has_no_warnings(fresh_db, tmp_path: Path):
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "parse",
            "--warn-error",
            "--no-partial-parse",
            "--project-dir",
            "dbt_project",
            "--profiles-dir",
            ".",
            "--target-path",
            str(tmp_path / "target"),
        ],
        cwd=PROJECT_ROOT,
        env=_tool_env(fresh_db),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    # `dbt docs` opens on the project's own overview page, not dbt's default one
    docs = json.loads((tmp_path / "target" / "manifest.json").read_text())["docs"]
    assert "Where to start" in docs["doc.gridhouse.__overview__"]["block_contents"]


def test_sqlfluff_lint_passes(fresh_db):
    """Every SQL file is linted, on an empty database: no model reads a table while dbt compiles it, so
    none fails to compile, and a file the templater skipped fails the test as a violation would."""
    folders = ["dbt_project/models", "dbt_project/tests", "dbt_project/snapshots", "analyses"]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "sqlfluff"), "lint", *folders, "--format", "json"],
        cwd=PROJECT_ROOT,
        env=_tool_env(fresh_db),
        capture_output=True,
        text=True,
        timeout=600,
    )
    linted = json.loads(result.stdout or "[]")
    expected = {str(p.relative_to(PROJECT_ROOT)) for f in folders for p in (PROJECT_ROOT / f).rglob("*.sql")}
    assert {f["filepath"] for f in linted} == expected, result.stderr[-3000:]
    violations = [(f["filepath"], v["code"], v["start_line_no"]) for f in linted for v in f["violations"]]
    assert violations == [], violations
    assert result.returncode == 0, result.stderr[-3000:]
