"""Test fixtures: a private embedded PostgreSQL for the session, a fresh database per test.

The suite never touches a user's database: GRIDHOUSE_DSN and PG* variables are removed and
GRIDHOUSE_HOME points at a temporary folder before anything connects.

The session's server authenticates like any embedded server (scram-sha-256 on TCP): the connections the
fixtures build carry its passwords, and PGPASSFILE points at its password file for the session, so a
libpq client given a URL without a password (a test's GRIDHOUSE_DSN, dbt, the alert exporter) finds it
there as it would with `PGPASSFILE=.gridhouse/pgpass`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.db import PROJECT_ROOT, Connection, EmbeddedServer

FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"

NO_FIXTURES = (
    f"the real vendor fixtures are not here ({FIXTURES}): a user's clone has no ../shared; CI has it"
)
requires_fixtures = pytest.mark.skipif(not FIXTURES.exists(), reason=NO_FIXTURES)

_counter = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("gridhouse-home")
    saved = dict(os.environ)
    for key in list(os.environ):
        if key == "GRIDHOUSE_DSN" or key.startswith("PG") or key.startswith("GRIDHOUSE_PG"):
            del os.environ[key]
    os.environ["GRIDHOUSE_HOME"] = str(home)
    # dbt writes its manifest and logs here, not into the checkout's dbt_project/target.
    os.environ["DBT_TARGET_PATH"] = str(home / "dbt-target")
    os.environ["DBT_LOG_PATH"] = str(home / "dbt-logs")
    os.environ.pop("GRIDHOUSE_EMBEDDED_PORT", None)
    yield home
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def server(isolated_env: Path) -> Iterator[EmbeddedServer]:
    from ingest.db import _free_port

    srv = EmbeddedServer(isolated_env / "server", port=_free_port())
    srv.start()
    os.environ["PGPASSFILE"] = str(srv.password_file)
    yield srv
    os.environ.pop("PGPASSFILE", None)
    srv.stop()


@pytest.fixture
def fresh_db(server: EmbeddedServer) -> Connection:
    """A new, empty database on the session's server."""
    return new_database(server, f"t{os.getpid()}_{next(_counter)}")


def new_database(server: EmbeddedServer, name: str) -> Connection:
    base = server.connection()
    with Connection(base.host, base.port, base.user, base.password, "postgres").connect(
        autocommit=True
    ) as admin:
        admin.execute(f'drop database if exists "{name}"')
        admin.execute(f'create database "{name}"')
    return Connection(base.host, base.port, base.user, base.password, name, embedded=True)


@pytest.fixture(scope="session")
def fixture_warehouse(server: EmbeddedServer) -> Connection:
    """The real fixtures loaded and `dbt build` run once, for tests that read models (read-only)."""
    if not FIXTURES.exists():
        pytest.skip(NO_FIXTURES)
    from ingest.build import build
    from ingest.pipeline import load

    conn = new_database(server, "fixture_warehouse")
    for source, folder in (("batteries", "batteries"), ("meters", "meters"), ("circuits", "circuits")):
        load(source, FIXTURES / folder, conn)
    result = build(conn, quiet=True, unit_tests=True)
    assert result.success, f"dbt build failed on the fixtures: {dict(result.statuses)}"
    return conn


def scalar(conn: Connection, query: str, params: tuple = ()) -> object:
    with conn.connect() as db:
        row = db.execute(query, params).fetchone()
    return None if row is None else row[0]


def rows(conn: Connection, query: str, params: tuple = ()) -> list[tuple]:
    with conn.connect() as db:
        return db.execute(query, params).fetchall()


PGLITE = PROJECT_ROOT / "deploy" / "pglite"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def timescale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    """A PGlite TimescaleDB (deploy/pglite/) per test module, in memory; skips where node/npm are absent."""
    npm, npx, node = shutil.which("npm"), shutil.which("npx"), shutil.which("node")
    if not (npm and npx and node):
        pytest.skip(
            "node/npm are not installed: the PGlite TimescaleDB tier needs them (apt-get install nodejs npm)"
        )
    if not (PGLITE / "node_modules" / "@electric-sql" / "pglite-socket").exists():
        result = subprocess.run(
            [npm, "ci", "--legacy-peer-deps", "--no-audit", "--no-fund"],
            cwd=PGLITE,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            pytest.skip(f"npm ci in {PGLITE} failed (no registry access?): {result.stderr.strip()[-300:]}")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("pglite") / "pglite.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [npx, "pglite-server", "-d", "memory://", "-p", str(port), "-m", "4",
         "-e", "@electric-sql/pglite/timescaledb:timescaledb"],
        cwd=PGLITE,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # npx starts node as a child: stop the whole group
    )  # fmt: skip
    conn = Connection("127.0.0.1", port, "postgres", "pglite", "template1", sslmode="disable")
    try:
        deadline = time.monotonic() + 120
        while "listening" not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"pglite-server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        with conn.connect(autocommit=True) as db:
            db.execute("create extension if not exists timescaledb")
        yield conn
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()
