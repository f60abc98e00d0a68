"""The Spark tier against PostgreSQL on the same device fleet (docs/spark.md, docs/scaling.md).

    python -m bench.spark [--scale S]

The devices of the BASE_DAYS tree go into PostgreSQL and into the lake (ingest/lake.py). PostgreSQL builds
the device models (`dbt run --select +fct_home_energy_summary`, the models the Spark target enables); Spark
builds the same models on a local standalone cluster of one worker (one core, ingest/spark.py), after a
warm-up that starts its session (the JVM and the catalog are a fixed cost of a process, not of a build).
Then a second worker joins and the hourly tier is built again from scratch. Rows:
- hourly tier throughput: raw-tier rows rolled up per second when the tier is created again from every
  reading, 2 workers vs 1 (timed once the second worker's executor runs);
- the device build, Spark (1 worker) vs PostgreSQL: the seconds of the same models, as a ratio.
Skips (no rows) where Java, pyspark or dbt-spark is absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from bench.harness import BASE_DAYS, Result, Workspace, environment_restored, load_tree, timed
from bench.steps import main_for

HOURLY = "fct_device_energy_hourly"


def _node_seconds(name: str) -> float:
    """The execution time of one model in the last dbt invocation (run_results.json)."""
    path = Path(os.environ.get("DBT_TARGET_PATH", "")) / "run_results.json"
    for result in json.loads(path.read_text())["results"]:
        if result["unique_id"].endswith(f".{name}"):
            return float(result["execution_time"])
    raise SystemExit(f"{name} did not run")


def _rebuild_hourly(session) -> float:  # noqa: ANN001 - a SparkSession
    """The hourly tier created again from every reading (a first build's work); its seconds."""
    session.sql(f"drop table marts.{HOURLY}")
    if not _build(["run", "--select", HOURLY]).success:
        raise SystemExit("Spark hourly rebuild failed")
    return _node_seconds(HOURLY)


def _build(args: list[str]):  # noqa: ANN202
    from ingest.spark import build

    return build(args, quiet=True)


def _wait_for_executors(session, count: int, timeout: float = 120) -> None:  # noqa: ANN001
    """Until the application has `count` executors (a new worker's starts a JVM), then one job on all."""
    import time

    deadline = time.monotonic() + timeout
    status = session.sparkContext._jsc.sc().getExecutorMemoryStatus()
    while status.size() < count + 1 and time.monotonic() < deadline:  # the driver counts too
        time.sleep(0.5)
        status = session.sparkContext._jsc.sc().getExecutorMemoryStatus()
    session.range(0, 1000, numPartitions=8).selectExpr("sum(id)").collect()


def run(ws: Workspace) -> list[Result]:
    try:
        import dbt.adapters.spark  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError:
        print("bench.spark: skipped, pip install -e '.[spark]' first")
        return []
    if shutil.which("java") is None:
        print("bench.spark: skipped, Spark needs Java 17")
        return []
    from ingest.build import run_dbt
    from ingest.lake import load_lake
    from ingest.spark import Cluster, _free_port, build

    tree = ws.history(BASE_DAYS) / "devices"
    conn = ws.database("spark_pg")
    rows, _ = load_tree(conn, tree.parent, ("devices",))
    pg, pg_s = timed(lambda: run_dbt(conn, ["run", "--select", "+fct_home_energy_summary"], quiet=True))
    if not pg.success:
        raise SystemExit(f"PostgreSQL device build failed: {dict(pg.statuses)}")

    folder = ws.root / "spark"
    shutil.rmtree(folder, ignore_errors=True)
    cluster = Cluster(folder / "cluster", port=_free_port())
    settings = (
        "GRIDHOUSE_SPARK_MASTER",
        "GRIDHOUSE_LAKE_URL",
        "GRIDHOUSE_SPARK_WAREHOUSE",
        "GRIDHOUSE_SPARK_METASTORE",
    )
    with environment_restored(*settings), contextlib.ExitStack() as stack:
        stack.callback(cluster.stop)
        os.environ["GRIDHOUSE_SPARK_MASTER"] = cluster.start(workers=1)
        os.environ["GRIDHOUSE_LAKE_URL"] = (folder / "lake").as_uri()
        # a catalog of its own: every run builds from nothing
        os.environ["GRIDHOUSE_SPARK_WAREHOUSE"] = str(folder / "warehouse")
        os.environ["GRIDHOUSE_SPARK_METASTORE"] = str(folder / "metastore")
        load_lake(tree, url=os.environ["GRIDHOUSE_LAKE_URL"])
        if not build(["run", "--select", "stg_devices__loads"], quiet=True).success:  # the session's start
            raise SystemExit("Spark warm-up failed")
        spark, spark_s = timed(lambda: build(["run"], quiet=True))
        if not spark.success:
            raise SystemExit(f"Spark device build failed: {dict(spark.statuses)}")
        from pyspark.sql import SparkSession

        session = SparkSession.builder.getOrCreate()
        raw_rows = session.table("marts.fct_device_readings").count()
        one_worker_s = _rebuild_hourly(session)
        cluster.add_workers(1)
        _wait_for_executors(session, 2)
        two_workers_s = _rebuild_hourly(session)
        session.stop()
    return [
        Result(
            "spark",
            f"hourly tier on Spark, rows/s, 2 vs 1 worker ({raw_rows:,} readings)",
            raw_rows / two_workers_s,
            raw_rows / one_worker_s,
            "rows/s",
            detail={"one_worker_s": one_worker_s, "two_workers_s": two_workers_s, "raw_rows": raw_rows},
        ),
        Result(
            "spark",
            f"device models, Spark (1 worker) vs PostgreSQL ({rows:,} readings loaded)",
            spark_s,
            pg_s,
            "s",
            detail={"spark_s": spark_s, "postgres_s": pg_s},
        ),
    ]


if __name__ == "__main__":
    main_for(run, __doc__)
