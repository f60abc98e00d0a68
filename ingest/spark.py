"""The Spark tier: a local standalone cluster for development and tests, and dbt's `spark` target.

`gridhouse spark start [--workers N]` runs a master and N workers from the PySpark wheel (SPARK_HOME is
the pyspark package folder), every address and web UI on 127.0.0.1, pid files and logs under
`$GRIDHOUSE_HOME/spark/`. A user with a real cluster sets `GRIDHOUSE_SPARK_MASTER` (e.g.
`spark://spark-master:7077`, or `yarn`) and never starts this one. `gridhouse spark build` runs dbt's
`spark` target (profiles.yml) over the lake (ingest/lake.py): the device tiers, docs/spark.md.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.db import PROJECT_ROOT
from ingest.errors import GridhouseError

MASTER_PORT = 7077
# Each worker is small: the tier's partitions are days of one fleet, and two workers must fit beside
# PostgreSQL on a laptop.
WORKER_MEMORY = "1g"
# The driver and each executor: JVMs default to a quarter of RAM, far more than the tier needs.
EXECUTOR_MEMORY = "768m"


def home() -> Path:
    return Path(os.environ.get("GRIDHOUSE_HOME") or PROJECT_ROOT / ".gridhouse") / "spark"


def spark_home() -> Path:
    """The pyspark package folder, which carries bin/spark-class and the jars."""
    try:
        import pyspark
    except ImportError:
        raise GridhouseError(
            "pyspark is not installed: pip install -e '.[spark]' (dbt-spark and PySpark; Java 17 too)"
        ) from None
    return Path(pyspark.__file__).parent


def require_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise GridhouseError(
            "java is not on PATH: Spark needs Java 17 (apt-get install openjdk-17-jre-headless)"
        )
    return java


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Cluster:
    """A local standalone cluster: its folder (pid files, logs, work dirs) and master port."""

    folder: Path
    port: int = MASTER_PORT

    @classmethod
    def default(cls) -> Cluster:
        raw = os.environ.get("GRIDHOUSE_SPARK_PORT", str(MASTER_PORT))
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise GridhouseError(f"GRIDHOUSE_SPARK_PORT={raw!r} is not a port: give a number from 1 to 65535")
        return cls(home(), int(raw))

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def pids(self) -> dict[str, int]:
        """The processes this cluster's pid files name that are still alive, by role (master, worker-1...)."""
        alive = {}
        for pid_file in sorted(self.folder.glob("*.pid")):
            text = pid_file.read_text().strip()
            if text.isdigit() and _alive(int(text)):
                alive[pid_file.stem] = int(text)
        return alive

    def workers_registered(self) -> int:
        """Workers the master's log says registered (the master's REST status needs its web UI)."""
        log = self.folder / "logs" / "master.log"
        if not log.exists():
            return 0
        return log.read_text(errors="replace").count("Registering worker")

    def is_running(self) -> bool:
        return "master" in self.pids() and _port_open(self.port)

    def start(
        self, workers: int = 2, cores: int = 1, memory: str = WORKER_MEMORY, timeout: float = 90
    ) -> str:
        """Start the master and `workers` workers (each `cores` cores, `memory`); returns the master URL.
        Everything listens on 127.0.0.1; the web UIs on free loopback ports."""
        if workers < 1:
            raise GridhouseError(f"--workers {workers}: give 1 or more")
        require_java()
        if self.is_running():
            raise GridhouseError(
                f"a Spark master already runs on {self.url} ({self.folder}): `gridhouse spark stop` first"
            )
        if _port_open(self.port):
            raise GridhouseError(
                f"port {self.port} on 127.0.0.1 is taken by another program: set GRIDHOUSE_SPARK_PORT to a free port"
            )
        self.stop()  # pid files of a cluster that died
        (self.folder / "logs").mkdir(parents=True, exist_ok=True)
        master = [
            str(spark_home() / "bin" / "spark-class"), "org.apache.spark.deploy.master.Master",
            "--host", "127.0.0.1", "--port", str(self.port), "--webui-port", str(_free_port()),
        ]  # fmt: skip
        self._launch("master", master)
        self._wait(lambda: _port_open(self.port), timeout, "the master to listen")
        self.add_workers(workers, cores, memory, timeout)
        return self.url

    def add_workers(
        self, workers: int, cores: int = 1, memory: str = WORKER_MEMORY, timeout: float = 90
    ) -> None:
        """Start `workers` more workers; a running application gets executors on them too."""
        have = self.workers_registered()
        for n in range(have + 1, have + workers + 1):
            worker = [
                str(spark_home() / "bin" / "spark-class"), "org.apache.spark.deploy.worker.Worker",
                "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory,
                "--webui-port", str(_free_port()), self.url,
            ]  # fmt: skip
            self._launch(f"worker-{n}", worker)
        self._wait(
            lambda: self.workers_registered() >= have + workers,
            timeout,
            f"{have + workers} workers to register",
        )

    def _launch(self, role: str, command: list[str]) -> None:
        env = {
            **os.environ,
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": "127.0.0.1",  # every listener, the web UIs included, on loopback
            "SPARK_WORKER_DIR": str(self.folder / "work"),
            "SPARK_NO_DAEMONIZE": "1",
        }
        log = (self.folder / "logs" / f"{role}.log").open("wb")
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() ends the JVM and its children
        )  # fmt: skip
        (self.folder / f"{role}.pid").write_text(str(process.pid))

    def _wait(self, ready, timeout: float, what: str) -> None:  # noqa: ANN001 - a callable
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline or "master" not in self.pids():
                self.stop()
                raise GridhouseError(
                    f"the Spark cluster did not start: waited {timeout:.0f} s for {what}; "
                    f"see the logs in {self.folder / 'logs'}"
                )
            time.sleep(0.3)

    def stop(self) -> bool:
        """End the processes of this cluster's pid files (workers first); True when any ran."""
        stopped = False
        pid_files = sorted(self.folder.glob("*.pid"), key=lambda p: p.stem == "master")
        for pid_file in pid_files:
            text = pid_file.read_text().strip()
            if text.isdigit() and _alive(int(text)):
                stopped = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(text), signal.SIGTERM)
                deadline = time.monotonic() + 20
                while _alive(int(text)) and time.monotonic() < deadline:
                    _reap(int(text))
                    time.sleep(0.1)
                if _alive(int(text)):
                    os.killpg(int(text), signal.SIGKILL)
                _reap(int(text))
            pid_file.unlink(missing_ok=True)
        return stopped


def _reap(pid: int) -> None:
    """Collect a child that exited (the cluster started by this process), so it is not a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def master_url() -> str:
    """The master dbt's spark target uses: GRIDHOUSE_SPARK_MASTER (a real cluster, `local[2]`), else the
    local cluster of `gridhouse spark start`."""
    return os.environ.get("GRIDHOUSE_SPARK_MASTER") or Cluster.default().url


def spark_env() -> dict[str, str]:
    """The variables profiles.yml's `spark` target reads: master, warehouse and metastore under
    GRIDHOUSE_HOME, the lake's URL (ingest/lake.py)."""
    from ingest.lake import lake_url

    folder = home()
    return {
        "GRIDHOUSE_SPARK_MASTER": master_url(),
        "GRIDHOUSE_SPARK_WAREHOUSE": os.environ.get("GRIDHOUSE_SPARK_WAREHOUSE") or str(folder / "warehouse"),
        "GRIDHOUSE_SPARK_METASTORE": os.environ.get("GRIDHOUSE_SPARK_METASTORE") or str(folder / "metastore"),
        "GRIDHOUSE_SPARK_EXECUTOR_MEMORY": os.environ.get("GRIDHOUSE_SPARK_EXECUTOR_MEMORY")
        or EXECUTOR_MEMORY,
        "GRIDHOUSE_LAKE_URL": lake_url(),
    }


def build(dbt_args: list[str] | None = None, quiet: bool = False) -> Any:
    """`dbt <args>` on the spark target, in this process (dbt-spark's session lives in it). Without args:
    `dbt run` of every model the target enables (the device tiers). Returns ingest.build.BuildResult."""

    from ingest.build import DBT_PROJECT_DIR, BuildResult

    try:
        import dbt.adapters.spark  # noqa: F401
        from dbt.cli.main import dbtRunner
    except ImportError:
        raise GridhouseError("dbt-spark is not installed: pip install -e '.[spark]'") from None
    os.environ.update(spark_env())
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    args = list(dbt_args or [])
    if not args or args[0].startswith("-"):  # options only: they go to `dbt run`
        args.insert(0, "run")
    command = [
        *args,
        "--target",
        "spark",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_ROOT),
    ]
    result = dbtRunner().invoke(["--quiet", *command] if quiet else command)
    if result.exception is not None:
        raise GridhouseError(f"dbt {args[0]} on the spark target could not run: {result.exception}")
    return BuildResult.of(result)


def command(args: Any) -> int:
    """`gridhouse spark start|stop|status|build`."""
    from rich.console import Console

    console = Console(stderr=True)
    cluster = Cluster.default()
    if args.action == "start":
        if os.environ.get("GRIDHOUSE_SPARK_MASTER"):
            raise GridhouseError(
                f"GRIDHOUSE_SPARK_MASTER={os.environ['GRIDHOUSE_SPARK_MASTER']} names your cluster: "
                "nothing to start (unset it to run a local one)"
            )
        url = cluster.start(workers=args.workers)
        console.print(f"Spark master {url} with {args.workers} worker(s); logs in {cluster.folder / 'logs'}")
        print(url)
    elif args.action == "stop":
        console.print("stopped" if cluster.stop() else "not running")
    elif args.action == "status":
        if os.environ.get("GRIDHOUSE_SPARK_MASTER"):
            console.print(f"your cluster (GRIDHOUSE_SPARK_MASTER): {os.environ['GRIDHOUSE_SPARK_MASTER']}")
            return 0
        if not cluster.is_running():
            raise GridhouseError(
                f"no local Spark master runs on {cluster.url}: start it with `gridhouse spark start`"
            )
        workers = [role for role in cluster.pids() if role.startswith("worker")]
        console.print(f"Spark master {cluster.url}: running, {len(workers)} worker(s) ({cluster.folder})")
        print(cluster.url)
    else:
        dbt_args = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else args.dbt_args
        if not os.environ.get("GRIDHOUSE_SPARK_MASTER") and not cluster.is_running():
            raise GridhouseError(
                f"no Spark master on {cluster.url}: `gridhouse spark start`, or set GRIDHOUSE_SPARK_MASTER"
            )
        result = build(dbt_args or ["run"])
        return 0 if result.success else 1
    return 0


def register(sub: Any) -> None:
    """The `spark` subcommand (ingest/cli.py)."""
    p = sub.add_parser("spark", help="the Spark tier: a local cluster (start, stop, status) and its build")
    p.add_argument("action", choices=["start", "stop", "status", "build"])
    p.add_argument("--workers", type=int, default=2, help="start: workers, one core each (default: 2)")
    # build: every other argument goes to dbt (ingest/cli.py main), e.g. `build run --select +fct_home_energy_daily`
    p.set_defaults(func=command, dbt_args=[])
