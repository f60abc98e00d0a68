"""TimescaleDB tier: compressed battery_telemetry meets issue #7's storage goal and reads back exactly.

Six batteries x 7 days at a minute (the bench's storage step, bench/storage.py, measures nine), clean
(no simulator events), plus points the scaled integers cannot hold, is inserted into the raw table on a
PGlite TimescaleDB (deploy/pglite). After building battery_telemetry and compressing every chunk, the
hypertable (table, TOAST, indexes, emptied chunks) must take at most 0.10 of the raw JSON bytes per point,
and every value read through the view must equal, as a double, the one parsed here from the JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import rows, scalar

from bench.harness import SEED, START
from bench.storage import STORAGE_SELECT, STORE, TIMESCALE_DAYS, raw_json_bytes_per_point
from ingest.db import Connection

GOAL = 0.10
# Values with more decimals than their unit's scale, beyond 2^53 once scaled, and a negative zero: each
# must come back as itself (value_exact), not rounded.
AWKWARD = [
    ("GridImportKwh-mainmeter", 479200.125),
    ("BatteryPowerW", 0.1),
    ("BatteryPowerW", -0.0),
    ("GridPowerW-mainmeter", 1e300),
    ("StateOfChargePercentage", 55.55),
]


def json_points(tree: Path) -> list[tuple[str, str, int, float]]:
    """(asset, series, epoch_ms, value) of every point in the vendor's files, as Python parses them."""
    return [
        (path.stem, series["name"], int(t), float(v))
        for path in sorted((tree / "batteries" / "telemetry").glob("*.json"))
        for series in json.loads(path.read_bytes())["series"]
        for t, v in series["data"]
    ]


def insert_raw(conn: Connection, points: list[tuple[str, str, int, float]]) -> None:
    """Raw rows as the loader writes them, one logged load, in one statement per column array (no COPY
    on PGlite)."""
    from ingest.loads import logged_load
    from ingest.pipeline import VENDORS, ensure_raw_tables

    ensure_raw_tables(conn, [VENDORS["batteries"]])
    columns = [list(c) for c in zip(*points, strict=True)]
    with logged_load(conn, "raw_batteries") as stamp, conn.connect() as db:
        db.execute(
            "insert into raw_batteries.telemetry (device_id, series_name, epoch_ms, value, _source_file, "
            "_loaded_at, _dlt_load_id) select d, s, t, v, 'test', %s, 't' "
            "from unnest(%s::text[], %s::text[], %s::bigint[], %s::float8[]) as p(d, s, t, v)",
            [stamp.loaded_at, *columns],
        )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import simulator

    tree = tmp_path_factory.mktemp("storage") / "fleet"
    simulator.simulate(
        tree,
        seed=SEED,
        families="batteries",
        batteries=6,  # the bench measures 9; 6 already meet the goal and keep this test short
        days=TIMESCALE_DAYS,
        start=START,
        events=False,
    )
    return tree


def test_compressed_battery_telemetry_meets_the_goal_and_reads_back_exactly(timescale, fleet, monkeypatch):
    from ingest.build import run_dbt

    points = json_points(fleet)
    asset = points[0][0]
    last_ms = max(t for _, _, t, _ in points)
    points += [(asset, series, last_ms + 60_000 * (i + 1), v) for i, (series, v) in enumerate(AWKWARD)]
    insert_raw(timescale, points)

    monkeypatch.setenv("GRIDHOUSE_DBT_THREADS", "1")
    # Without the assets (not loaded here), so without the relationships test that needs them.
    result = run_dbt(
        timescale, ["build", *STORAGE_SELECT, "--exclude", "test_name:relationships"], quiet=True
    )
    assert result.success, f"dbt build failed: {dict(result.statuses)}"
    with timescale.connect(autocommit=True) as db:
        db.execute(f"select compress_chunk(c, if_not_compressed => true) from show_chunks('{STORE}') as c")

    assert scalar(timescale, f"select count(*) from show_chunks('{STORE}')") >= 2
    assert scalar(
        timescale, "select bool_and(is_compressed) from timescaledb_information.chunks "
        "where hypertable_name = 'int_batteries__telemetry_scaled'"
    )  # fmt: skip
    n, size = rows(timescale, f"select count(*), hypertable_size('{STORE}') from {STORE}")[0]
    assert n == len(points)
    raw_per_point, _ = raw_json_bytes_per_point(fleet)
    assert size / n <= GOAL * raw_per_point, (size / n, raw_per_point)
    # Only the points the integers cannot hold carry the exact double.
    assert scalar(timescale, f"select count(*) from {STORE} where value_exact is not null") == len(AWKWARD)

    got = rows(
        timescale,
        "select asset_id, metric, (extract(epoch from measured_at) * 1000)::bigint, value "
        "from marts.battery_telemetry",
    )
    assert sorted(got) == sorted(points)  # float equality: bit for bit but the sign of zero
    zero = next(v for a, s, t, v in got if t == last_ms + 60_000 * 3)
    assert zero == 0 and math.copysign(1, zero) == -1
