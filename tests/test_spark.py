"""The Spark tier gives PostgreSQL's answers: one simulated fleet loaded into PostgreSQL and into the lake
(ingest/lake.py), both built the same way (the registry and the first day, then the rest, so the Spark
rollups overwrite the partitions the second load touches), and every device mart compared row by row:
the same keys, the same values (energy within 1e-9 kWh). Spark runs on a local standalone cluster of one
master and two workers (ingest/spark.py), started once for this module."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import _free_port, new_database, rows

from ingest.build import run_dbt
from ingest.db import Connection
from ingest.pipeline import load

pytest.importorskip("pyspark", reason="the Spark tier needs pip install -e '.[spark]' (pyspark, dbt-spark)")
pytest.importorskip("dbt.adapters.spark", reason="the Spark tier needs pip install -e '.[spark]' (dbt-spark)")
if shutil.which("java") is None:
    pytest.skip(
        "the Spark tier needs Java 17 (apt-get install openjdk-17-jre-headless)", allow_module_level=True
    )

# Each mart's key, as its YAML states its grain.
MARTS = {
    "marts.dim_devices": ("device_id",),
    "marts.fct_device_readings": ("device_id", "measured_at"),
    "marts.fct_device_energy_hourly": ("device_id", "hour_start"),
    "marts.fct_device_energy_daily": ("device_id", "local_day"),
    "marts.fct_device_energy_monthly": ("device_id", "local_month"),
    "intermediate.int_devices__home_hours": ("home_id", "hour_start"),
    "marts.fct_home_energy_daily": ("home_id", "local_date"),
    "marts.fct_home_energy_monthly": ("home_id", "local_month"),
    "marts.fct_home_energy_summary": ("home_id", "grain", "period_start"),
}
TOLERANCE = 1e-9  # kWh (and W, %): the engines sum in different orders
# The stamp of the load a row came from: each store's own clock (the database's, the lake loader's).
STAMPS = {"loaded_at"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Three days across a month end (two months, a DST night in Europe), and a copy holding the registry
    and the first day only."""
    from simulator import simulate

    out = tmp_path_factory.mktemp("spark-fleet")
    simulate(out, seed=5, preset="small", families="devices", start="2024-03-30", days=3)
    days = sorted((out / "devices" / "telemetry").glob("*.jsonl"))
    first = tmp_path_factory.mktemp("spark-day1") / "devices"
    (first / "telemetry").mkdir(parents=True)
    shutil.copy(out / "devices" / "devices.json", first / "devices.json")
    shutil.copy(days[0], first / "telemetry" / days[0].name)
    return first, out / "devices"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """One master and two workers (one core each) on loopback, stopped with the module."""
    from ingest.spark import Cluster

    spark_cluster = Cluster(tmp_path_factory.mktemp("spark-cluster"), port=_free_port())
    os.environ["GRIDHOUSE_SPARK_MASTER"] = spark_cluster.start(workers=2, memory="1g")
    yield spark_cluster
    from pyspark.sql import SparkSession

    # dbt-spark's session (its default session: dbt ran it in another thread), so its executors end
    SparkSession.builder.getOrCreate().stop()
    os.environ.pop("GRIDHOUSE_SPARK_MASTER", None)
    spark_cluster.stop()


@pytest.fixture(scope="module")
def built(server, fleet, cluster, tmp_path_factory) -> tuple[Connection, object]:
    """The fleet in PostgreSQL and in the lake, each built after the first day and after the rest."""
    from pyspark.sql import SparkSession

    from ingest.lake import load_lake
    from ingest.spark import build

    first, whole = fleet
    conn = new_database(server, "spark_compare")
    lake = tmp_path_factory.mktemp("lake").as_uri()
    os.environ["GRIDHOUSE_LAKE_URL"] = lake
    try:
        for folder in (first, whole):
            load("devices", folder, conn)
            assert run_dbt(conn, ["run", "--select", "+fct_home_energy_summary"], quiet=True).success
            report = load_lake(folder, url=lake)
            assert report.read == report.loaded + report.quarantined
            result = build(["run"], quiet=True)
            assert result.success, dict(result.statuses)
    finally:
        os.environ.pop("GRIDHOUSE_LAKE_URL", None)
    return conn, SparkSession.builder.getOrCreate()


def _instant(value: object) -> object:
    """A timestamptz as epoch microseconds (Spark's unix_micros), everything else as is."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return round((value - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1_000_000)
    return value


def _spark_rows(spark, relation: str, columns: list[str]) -> list[dict]:
    types = dict(spark.table(relation).dtypes)
    select = [f"unix_micros({c}) as {c}" if types[c] == "timestamp" else c for c in columns]
    return [r.asDict() for r in spark.sql(f"select {', '.join(select)} from {relation}").collect()]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= TOLERANCE
    return a == b


def test_lake_holds_every_reading_once(built, fleet):
    """Each reading of the files reaches the Spark raw tier once, as in PostgreSQL (counted from the files)."""
    _, spark = built
    readings = sum(len(p.read_text().splitlines()) for p in (fleet[1] / "telemetry").glob("*.jsonl"))
    assert spark.table("marts.fct_device_readings").count() == readings
    assert spark.sql("select count(distinct local_day) from marts.fct_device_readings").first()[0] >= 3


@pytest.mark.parametrize("relation", list(MARTS))
def test_spark_mart_equals_postgres_row_by_row(built, relation):
    conn, spark = built
    key = MARTS[relation]
    with conn.connect() as db:
        cursor = db.execute(f"select * from {relation}")
        columns = [d.name for d in cursor.description]
        pg = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    assert pg, f"{relation} is empty on PostgreSQL"
    on_spark = _spark_rows(spark, relation, columns)
    want = {tuple(_instant(r[k]) for k in key): r for r in pg}
    got = {tuple(r[k] for k in key): r for r in on_spark}
    assert len(got) == len(on_spark), f"{relation}: a key twice on Spark"
    assert set(got) == set(want), f"{relation}: keys differ, e.g. {sorted(set(got) ^ set(want), key=str)[:3]}"
    for k, expected in want.items():
        for column, value in expected.items():
            if column in STAMPS:
                continue
            value = json.loads(json.dumps(value)) if column == "specs" else _instant(value)
            actual = json.loads(got[k][column]) if column == "specs" else got[k][column]
            assert _same(actual, value), (relation, k, column, actual, value)


def test_postgres_side_answers_the_fleet(built, fleet):
    """The comparison is not between two empty answers: PostgreSQL's hourly tier holds every device."""
    conn, _ = built
    devices = {d["device_id"] for d in json.loads((fleet[1] / "devices.json").read_text())}
    held = {r[0] for r in rows(conn, "select distinct device_id from marts.fct_device_energy_hourly")}
    assert held == devices
