"""A simulated fleet through the real loaders and the whole pipeline (runs without ../shared too).

The simulator's manifest predicts, from what it injected, how many records a strict loader reads,
loads and quarantines per family; the loaders must agree exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import scalar

from ingest.pipeline import load
from simulator import simulate


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("fleet")
    manifest = simulate(out, seed=7, preset="small")
    return out, manifest.counts


def _expected(counts: dict, family: str) -> dict[str, int]:
    # Temperature (`...Celsius`) is a known unit now; the manifest gives both predictions.
    return counts[family].get("loader_with_celsius_unit", counts[family]["loader"])


@pytest.mark.parametrize("family", ["batteries", "meters", "circuits", "devices"])
def test_loaders_agree_with_the_simulators_prediction(fresh_db, fleet, family):
    out, counts = fleet
    report = load(family, out / family, fresh_db)
    expected = _expected(counts, family)
    assert (report.read, report.loaded, report.quarantined) == (
        expected["read"],
        expected["loaded"],
        expected["quarantined"],
    )
    assert all(f.balanced for f in report.files)
    in_quarantine = scalar(fresh_db, f"select count(*) from raw_{family}.quarantine")
    assert in_quarantine == expected["quarantined"]


def test_injected_battery_defects_are_all_in_quarantine(fresh_db, fleet):
    out, counts = fleet
    load("batteries", out / "batteries", fresh_db)
    c = counts["batteries"]
    reasons = dict(
        (reason, n)
        for reason, n in [
            (
                "duplicate",
                scalar(
                    fresh_db,
                    "select count(*) from raw_batteries.quarantine where reason like 'duplicate point%%'",
                ),
            ),
            (
                "unit",
                scalar(
                    fresh_db,
                    "select count(*) from raw_batteries.quarantine where reason like 'unknown unit suffix%%'",
                ),
            ),
            (
                "file",
                scalar(
                    fresh_db,
                    "select count(*) from raw_batteries.quarantine where position = '$'",
                ),
            ),
        ]
    )
    assert reasons == {
        "duplicate": c["points_duplicate"],
        "unit": c["points_unknown_suffix"],
        "file": c["assets_with_malformed_file"],
    }


def test_demo_runs_end_to_end_on_a_simulated_fleet(fresh_db, fleet, monkeypatch):
    """What `make demo` does on a clone without ../shared: load every family, build, show."""
    from ingest.demo import run_demo

    out, counts = fleet
    monkeypatch.setenv("GRIDHOUSE_DSN", fresh_db.url())
    assert run_demo(out) == 0
    assert (
        scalar(fresh_db, "select count(*) from staging.stg_devices__devices") == counts["devices"]["devices"]
    )
    assert (
        scalar(fresh_db, "select count(*) from staging.stg_batteries__assets")
        == counts["batteries"]["assets"]
    )
