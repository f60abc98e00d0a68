"""battery_telemetry's incremental run: a re-run writes nothing, late points of a new load land whatever
their age, values changed by a logged fix are replaced, and the storage (int_batteries__telemetry_scaled,
which the battery_telemetry view reads) is the plain-PostgreSQL one (deduplicated btrees on measured_at
and on the series)."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, requires_fixtures, rows, scalar
from test_battery_support import HEERLEN, add_points, build_fixture_batteries, load_fixture_batteries

pytestmark = requires_fixtures

STORE = "intermediate.int_batteries__telemetry_scaled"
FIRST_MS = 1738850562000  # the fixtures' first point
LAST_MS = 1738850618000  # and last


@pytest.fixture
def battery_db(fresh_db):
    load_fixture_batteries(fresh_db, FIXTURES)
    return fresh_db


def _snapshot(conn):
    """Every point with the tuple version of its stored row (xmin changes when a row is rewritten)."""
    return rows(
        conn,
        "select held.xmin::text, points.asset_id, points.metric, points.measured_at, points.value "
        f"from marts.battery_telemetry as points join {STORE} as held using (asset_id, metric, measured_at) "
        "order by 2, 3, 4",
    )


def test_rerun_changes_nothing_and_late_points_land(battery_db):
    before = _snapshot(battery_db)
    assert len(before) == 375
    build_fixture_batteries(battery_db, "--select", "battery_telemetry")
    assert _snapshot(battery_db) == before  # same rows, same tuple versions: nothing rewritten

    # A late point between two known points, one 30 days older than every point held (the load log, not a
    # time window, decides what is new) and one after the last.
    month_ms = 30 * 86_400_000
    add_points(
        battery_db,
        HEERLEN,
        "StateOfChargePercentage",
        [(FIRST_MS + 1000, 94.5), (FIRST_MS - month_ms, 90.0), (LAST_MS + 4000, 80.0)],
    )
    build_fixture_batteries(battery_db, "--select", "battery_telemetry")
    after = _snapshot(battery_db)
    assert len(after) == 378
    unchanged = {r[1:] for r in before}
    assert {r[1:] for r in after} - unchanged == {
        (HEERLEN, "StateOfChargePercentage", *point)
        for point in rows(
            battery_db,
            "select measured_at, value from staging.stg_batteries__telemetry where source_file = 'test'",
        )
    }
    # Rows not touched keep their tuple versions.
    assert {r for r in before} <= set(after)


def test_changed_value_replaces_the_old_one(battery_db):
    """A raw value replaced by a later load (a vendor correction: the loader rewrites the row and stamps it
    with its load) replaces the stored point at the next build, and only that point is written again."""
    from ingest.loads import logged_load

    before = _snapshot(battery_db)
    with logged_load(battery_db, "raw_batteries") as stamp, battery_db.connect() as db:
        db.execute(
            "update raw_batteries.telemetry set value = 42, _loaded_at = %s where device_id = %s "
            "and series_name = 'StateOfChargePercentage' and epoch_ms = %s",
            (stamp.loaded_at, HEERLEN, LAST_MS),
        )
    build_fixture_batteries(battery_db, "--select", "battery_telemetry")
    got = rows(
        battery_db,
        "select value from marts.battery_telemetry where asset_id = %s and metric = 'StateOfChargePercentage' "
        "and measured_at = to_timestamp(%s / 1000.0)",
        (HEERLEN, LAST_MS),
    )
    assert got == [(42.0,)]
    assert scalar(battery_db, "select count(*) from marts.battery_telemetry") == 375
    # Only that point was written again.
    changed = {r for r in _snapshot(battery_db)} - set(before)
    assert [r[1:] for r in changed] == [
        (
            HEERLEN,
            "StateOfChargePercentage",
            *rows(battery_db, "select to_timestamp(%s / 1000.0), 42.0::float8", (LAST_MS,))[0],
        )
    ]


def test_plain_postgres_storage_is_time_series_and_load_btrees(battery_db):
    defs = {
        d
        for (d,) in rows(
            battery_db, "select indexdef from pg_indexes where tablename = 'int_batteries__telemetry_scaled'"
        )
    }
    assert any("USING btree (measured_at)" in d for d in defs), defs
    assert any("USING btree (asset_id, metric)" in d for d in defs), defs
    assert any("USING btree (loaded_at)" in d for d in defs), defs  # what later models have to take in
    assert not any(d.startswith("CREATE UNIQUE INDEX") for d in defs), (
        defs
    )  # 85 % of the table (docs/scaling.md)
    # The storage post-hook is idempotent: a full refresh rebuilds the table with exactly these three indexes.
    build_fixture_batteries(battery_db, "--select", "battery_telemetry", "--full-refresh")
    assert (
        len(
            rows(
                battery_db,
                "select indexdef from pg_indexes where tablename = 'int_batteries__telemetry_scaled'",
            )
        )
        == 3
    )


def test_series_and_window_lookups_use_the_indexes(battery_db):
    with battery_db.connect() as db:
        db.execute("set enable_seqscan = off")  # a 375-row table: make the planner show the index it can use
        series_plan, window_plan = (
            "\n".join(r[0] for r in db.execute(query, params).fetchall())
            for query, params in (
                (
                    "explain select measured_at, value from marts.battery_telemetry where asset_id = %s "
                    "and metric = 'StateOfChargePercentage' order by measured_at desc limit 1",
                    (HEERLEN,),
                ),
                ("explain select max(measured_at) from marts.battery_telemetry", ()),
            )
        )
    # Through the view: the planner inlines it, so both reach the storage table's indexes.
    assert "int_batteries__telemetry_scaled_asset_id_metric_idx" in series_plan, series_plan
    assert "int_batteries__telemetry_scaled_measured_at_idx" in window_plan, window_plan


def test_a_build_leaves_a_running_load_for_the_next_build(battery_db):
    from ingest.loads import logged_load

    before = _snapshot(battery_db)
    # A load that has committed some rows and is still running (it holds the load lock) when dbt starts.
    with logged_load(battery_db, "raw_batteries") as stamp:
        with battery_db.connect() as db:
            db.cursor().executemany(
                "insert into raw_batteries.telemetry (device_id, series_name, epoch_ms, value, _source_file, "
                "_loaded_at, _dlt_load_id) values (%s, 'StateOfChargePercentage', %s, %s, 'test', %s, 'test')",
                [
                    (HEERLEN, LAST_MS + 4000, 80.0, stamp.loaded_at),
                    (HEERLEN, LAST_MS + 8000, 79.5, stamp.loaded_at),
                ],
            )
        build_fixture_batteries(battery_db, "--select", "battery_telemetry")
        assert _snapshot(battery_db) == before

    build_fixture_batteries(battery_db, "--select", "battery_telemetry")
    assert len(_snapshot(battery_db)) == len(before) + 2
    assert scalar(battery_db, f"select count(*) from {STORE} where loaded_at = %s", (stamp.loaded_at,)) == 2


def test_a_table_built_whole_is_analyzed_before_its_readers_run(battery_db):
    """The post-hook analyze_new_table: a table a build creates is analyzed by the build (a manual ANALYZE,
    autovacuum's would show as last_autoanalyze), one that already has statistics is not analyzed again."""

    def analyzed():
        return scalar(
            battery_db, f"select last_analyze from pg_stat_user_tables where relid = '{STORE}'::regclass"
        )

    first = analyzed()
    assert first is not None
    assert (
        scalar(battery_db, f"select count(*) from pg_stats where schemaname || '.' || tablename = '{STORE}'")
        > 0
    )
    add_points(battery_db, HEERLEN, "StateOfChargePercentage", [(LAST_MS + 4000, 80.0)])
    build_fixture_batteries(battery_db, "--select", "battery_telemetry")  # incremental: statistics kept
    assert scalar(battery_db, f"select count(*) from {STORE}") == 376
    assert analyzed() == first
    build_fixture_batteries(battery_db, "--select", "battery_telemetry", "--full-refresh")  # a new table
    assert analyzed() > first
