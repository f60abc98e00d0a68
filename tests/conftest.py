"""Test fixtures: a private embedded PostgreSQL for the session, a fresh database per test.

The suite never touches a user's database: GRIDHOUSE_DSN and PG* variables are removed and
GRIDHOUSE_HOME points at a temporary folder before anything connects.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.db import PROJECT_ROOT, Connection, EmbeddedServer

FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"

requires_fixtures = pytest.mark.skipif(
    not FIXTURES.exists(),
    reason=f"the real vendor fixtures are not here ({FIXTURES}): a user's clone has no ../shared; CI has it",
)

_counter = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("gridhouse-home")
    saved = dict(os.environ)
    for key in list(os.environ):
        if key == "GRIDHOUSE_DSN" or key.startswith("PG") or key.startswith("GRIDHOUSE_PG"):
            del os.environ[key]
    os.environ["GRIDHOUSE_HOME"] = str(home)
    os.environ.pop("GRIDHOUSE_EMBEDDED_PORT", None)
    yield home
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def server(isolated_env: Path) -> Iterator[EmbeddedServer]:
    from ingest.db import _free_port

    srv = EmbeddedServer(isolated_env / "server", port=_free_port())
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_db(server: EmbeddedServer) -> Connection:
    """A new, empty database on the session's server."""
    base = server.connection()
    name = f"t{os.getpid()}_{next(_counter)}"
    with Connection(base.host, base.port, base.user, "", "postgres").connect(autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    return Connection(base.host, base.port, base.user, "", name, embedded=True)


def scalar(conn: Connection, query: str, params: tuple = ()) -> object:
    with conn.connect() as db:
        row = db.execute(query, params).fetchone()
    return None if row is None else row[0]


def rows(conn: Connection, query: str, params: tuple = ()) -> list[tuple]:
    with conn.connect() as db:
        return db.execute(query, params).fetchall()
