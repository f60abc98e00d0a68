"""Who may connect to the embedded server, and what the readers can reach.

The probes of issue 15 ("Safe to leave running"), against real servers: the session's, and servers of
this module's own started with the command line (`gridhouse db start|status|url|stop`) in folders of
their own. Another OS user, a wrong password and no password are refused; the readers cannot run
programs; data folders made before authentication (trust) are upgraded on the next `db start`;
`db status` and connection settings a user can get wrong give one line and exit 2.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import rows, scalar

from ingest.db import PROJECT_ROOT, READER_ROLES, SUPERUSER, Connection, EmbeddedServer, _free_port

ROOT = os.geteuid() == 0
NOT_ROOT = "runs psql as OS user nobody with runuser, which needs root; the tests do not run as root"


def psql(server: EmbeddedServer) -> str:
    return str(server._bin / "psql")


def as_nobody(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`command` as OS user nobody, with a clean environment (no PGPASSFILE, no PGPASSWORD unless given)."""
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", *command],
        env={"PATH": "/usr/sbin:/usr/bin:/bin", "HOME": "/tmp", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def marker() -> Iterator[Path]:
    """A path the server's OS user could create (a program run by the server runs as that user)."""
    folder = Path(tempfile.mkdtemp(prefix="gridhouse-marker-", dir="/tmp"))
    folder.chmod(0o777)
    yield folder / "ran"
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()


def refused(conn: Connection, password: str | None) -> str:
    """The error of connecting as conn.user with this password (None: none at all, no password file)."""
    params = {"host": conn.host, "port": conn.port, "user": conn.user, "dbname": conn.dbname}
    params |= {"passfile": "/nonexistent"} if password is None else {"password": password}
    with pytest.raises(psycopg.OperationalError) as error:
        psycopg.connect(**params, connect_timeout=10).close()
    return str(error.value)


# -- the session's server ---------------------------------------------------------------------------
@pytest.mark.skipif(not ROOT, reason=NOT_ROOT)
def test_another_os_user_is_refused(server, fresh_db, marker):
    attack = f"copy (select 1) to program 'touch {marker}'"
    base = [psql(server), "-p", str(server.port), "-d", fresh_db.dbname, "-w", "-c", attack]

    no_password = as_nobody(*base, "-h", "127.0.0.1", "-U", SUPERUSER)
    wrong = as_nobody(*base, "-h", "127.0.0.1", "-U", SUPERUSER, env={"PGPASSWORD": "guess"})
    reader = as_nobody(*base, "-h", "127.0.0.1", "-U", "bi_reader")
    socket = as_nobody(*base, "-h", str(server.run_dir), "-U", SUPERUSER)

    assert no_password.returncode == 2 and "no password supplied" in no_password.stderr, no_password.stderr
    assert wrong.returncode == 2, wrong.stderr
    assert f'password authentication failed for user "{SUPERUSER}"' in wrong.stderr, wrong.stderr
    assert reader.returncode == 2 and "no password supplied" in reader.stderr, reader.stderr
    # The socket's folder is the server's OS user's alone: nobody cannot even reach the socket.
    assert socket.returncode == 2 and "Permission denied" in socket.stderr, socket.stderr
    assert not marker.exists()
    # The attack works for whoever has the superuser's password: the probe above was a real one.
    with fresh_db.connect(autocommit=True) as db:
        db.execute(attack)
    assert marker.exists()


def test_the_servers_own_os_user_gets_in_on_the_socket_by_peer_only_as_superuser(server, fresh_db):
    user = server._os_user()
    prefix = ["runuser", "-u", user, "--"] if user else []
    command = [psql(server), "-h", str(server.run_dir), "-p", str(server.port), "-d", fresh_db.dbname, "-w"]
    env = {"PATH": "/usr/sbin:/usr/bin:/bin", "HOME": "/tmp"}
    ok = subprocess.run([*prefix, *command, "-U", SUPERUSER, "-Atc", "select current_user"],
                        env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    other = subprocess.run([*prefix, *command, "-U", "bi_reader", "-Atc", "select current_user"],
                           env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ok.returncode == 0 and ok.stdout.strip() == SUPERUSER, ok.stderr
    assert other.returncode == 2 and 'Peer authentication failed for user "bi_reader"' in other.stderr


@pytest.mark.parametrize("role", [SUPERUSER, *READER_ROLES])
def test_a_wrong_or_missing_password_is_refused_over_tcp(server, fresh_db, role):
    conn = Connection(fresh_db.host, fresh_db.port, role, server.password(role), fresh_db.dbname)
    assert f'password authentication failed for user "{role}"' in refused(conn, "wrong")
    assert f'password authentication failed for user "{role}"' in refused(conn, server.password(role)[:-1])
    assert "no password supplied" in refused(conn, None)
    with conn.connect() as db:  # and the right one gets in
        assert db.execute("select current_user").fetchone()[0] == role


def test_the_server_is_configured_to_authenticate(server, fresh_db):
    hba = [line.split() for line in (server.pgdata / "pg_hba.conf").read_text().splitlines()]
    active = [fields for fields in hba if fields and not fields[0].startswith("#")]
    assert active == [
        ["local", "all", "all", "peer", "map=gridhouse"],
        ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"],
    ]
    assert scalar(fresh_db, "show listen_addresses") == "127.0.0.1"
    assert scalar(fresh_db, "show password_encryption") == "scram-sha-256"
    assert stat.S_IMODE(server.run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(server.home.stat().st_mode) == 0o700
    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(server.log.stat().st_mode) == 0o600
    roles = dict(
        (name, (password[:14], superuser, createrole, createdb))
        for name, password, superuser, createrole, createdb in rows(
            fresh_db,
            "select rolname, rolpassword, rolsuper, rolcreaterole, rolcreatedb from pg_authid "
            "where rolname in ('postgres', 'alerting', 'bi_reader')",
        )
    )
    assert roles == {
        "postgres": ("SCRAM-SHA-256$", True, True, True),
        "alerting": ("SCRAM-SHA-256$", False, False, False),
        "bi_reader": ("SCRAM-SHA-256$", False, False, False),
    }
    # No password is in the server's log.
    log = server.log.read_text(errors="replace")
    for role in [SUPERUSER, *READER_ROLES]:
        assert server.password(role) not in log


@pytest.mark.parametrize("role", list(READER_ROLES))
def test_readers_cannot_run_programs_or_read_files(server, fresh_db, role, marker):
    conn = Connection(fresh_db.host, fresh_db.port, role, server.password(role), fresh_db.dbname)
    attempts = [
        f"copy (select 1) to program 'cat > {marker}'",  # cat reads what copy sends: no broken pipe
        "create temporary table t (line text); copy t from program 'id'",
        "create temporary table f (line text); copy f from '/etc/passwd'",
        "select pg_read_file('/etc/passwd')",
        "select pg_ls_dir('.')",
        f"copy (select 1) to '{marker}'",
        "create extension if not exists file_fdw",
    ]
    denied = []
    for statement in attempts:
        with conn.connect(autocommit=True) as db:
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as error:
                for part in statement.split("; "):
                    db.execute(part)
            denied.append(error.value.sqlstate)
    assert denied == ["42501"] * len(attempts)
    assert not marker.exists()
    with fresh_db.connect(autocommit=True) as db:  # the same statement as the superuser runs the program
        db.execute(attempts[0])
    assert marker.exists()


# -- servers of this module's own, driven by the command line ---------------------------------------
def gridhouse(home: Path, port: int, *args: str, env: dict[str, str] | None = None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "GRIDHOUSE_DSN"}
    environment |= {"GRIDHOUSE_HOME": str(home), "GRIDHOUSE_EMBEDDED_PORT": str(port), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli", *args],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a user error prints, checked to be one line and no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory) -> Iterator[tuple[Path, int]]:
    home, port = tmp_path_factory.mktemp("cli") / "gridhouse", _free_port()
    yield home, port
    EmbeddedServer(home).stop()


def test_db_start_generates_a_password_keeps_it_and_never_prints_it(cli_home):
    home, port = cli_home
    stopped = gridhouse(home, port, "db", "status")
    assert stopped.returncode == 2
    assert one_line(stopped) == (
        f"gridhouse: error: the embedded PostgreSQL in {home / 'pgdata'} is not running: "
        "start it with `gridhouse db start`"
    )

    started = gridhouse(home, port, "db", "start")
    assert started.returncode == 0, started.stderr
    server = EmbeddedServer(home)
    password = server.password()
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", password)
    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
    assert started.stdout.strip() == f"postgresql://postgres@127.0.0.1:{port}/gridhouse"
    assert password not in started.stdout + started.stderr + server.log.read_text()

    url = gridhouse(home, port, "db", "url")
    shown = gridhouse(home, port, "db", "url", "--show-password")
    status = gridhouse(home, port, "db", "status")
    assert url.stdout.strip() == f"postgresql://postgres@127.0.0.1:{port}/gridhouse"
    assert password not in url.stdout + url.stderr + status.stdout + status.stderr
    assert status.returncode == 0, status.stderr
    assert shown.stdout.strip() == f"postgresql://postgres:{password}@127.0.0.1:{port}/gridhouse"
    with psycopg.connect(shown.stdout.strip()) as db:
        assert db.execute("select current_user").fetchone()[0] == SUPERUSER

    # Stopped and started again: the same password, and it still gets in.
    assert gridhouse(home, port, "db", "stop").returncode == 0
    again = gridhouse(home, port, "db", "status")
    assert again.returncode == 2 and "is not running" in one_line(again)
    assert gridhouse(home, port, "db", "start").returncode == 0
    assert server.password() == password
    with server.connection().connect() as db:
        assert db.execute("select current_database()").fetchone()[0] == "gridhouse"


def test_db_url_role_gives_each_reader_its_own_working_url(cli_home):
    home, port = cli_home
    server = EmbeddedServer(home)
    if not server.is_running():
        assert gridhouse(home, port, "db", "start").returncode == 0
    for role in READER_ROLES:
        result = gridhouse(home, port, "db", "url", "--role", role)
        assert result.returncode == 0, result.stderr
        url = result.stdout.strip()
        assert url == f"postgresql://{role}:{server.password(role)}@127.0.0.1:{port}/gridhouse"
        with psycopg.connect(url) as db:
            assert db.execute("select current_user").fetchone()[0] == role
            # Least privilege: no schema of the warehouse to create in, no role to become.
            assert db.execute("select has_database_privilege('gridhouse', 'CREATE')").fetchone()[0] is False
            assert (
                db.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]
                is False
            )
        # The maintenance database is the superuser's alone.
        with pytest.raises(psycopg.OperationalError, match='permission denied for database "postgres"'):
            psycopg.connect(url.replace("/gridhouse", "/postgres"), connect_timeout=5).close()


def test_a_readers_password_comes_from_the_environment_where_set(cli_home):
    home, port = cli_home
    server = EmbeddedServer(home)
    if not server.is_running():
        assert gridhouse(home, port, "db", "start").returncode == 0
    generated = server.password("bi_reader")
    given = {"GRIDHOUSE_BI_READER_PASSWORD": "poller:pass/word"}
    result = gridhouse(home, port, "db", "url", "--role", "bi_reader", env=given)
    assert result.stdout.strip() == f"postgresql://bi_reader:poller%3Apass%2Fword@127.0.0.1:{port}/gridhouse"
    with psycopg.connect(result.stdout.strip()) as db:
        assert db.execute("select current_user").fetchone()[0] == "bi_reader"
    reader = Connection("127.0.0.1", port, "bi_reader", generated, "gridhouse")
    assert 'password authentication failed for user "bi_reader"' in refused(reader, generated)
    assert "bi_reader" not in server._passwords()  # the file does not keep a password that no longer works
    # Without the variable again, `db start` gives it a generated password of its own.
    assert gridhouse(home, port, "db", "start").returncode == 0
    assert server.password("bi_reader") not in (generated, "poller:pass/word")
    with server.reader_connection("bi_reader").connect() as db:
        assert db.execute("select current_user").fetchone()[0] == "bi_reader"


def test_a_tenant_on_the_embedded_server_has_its_own_database_and_readers(cli_home):
    home, port = cli_home
    server = EmbeddedServer(home)
    if not server.is_running():
        assert gridhouse(home, port, "db", "start").returncode == 0
    urls = {}
    for tenant in ("acme", "globex"):
        result = gridhouse(home, port, "db", "url", "--role", "bi_reader", env={"GRIDHOUSE_TENANT": tenant})
        assert result.returncode == 0, result.stderr
        urls[tenant] = result.stdout.strip()
        password = server.password(f"bi_reader_{tenant}")
        assert (
            urls[tenant] == f"postgresql://bi_reader_{tenant}:{password}@127.0.0.1:{port}/gridhouse_{tenant}"
        )
        with psycopg.connect(urls[tenant]) as db:
            assert db.execute("select current_user, current_database()").fetchone() == (
                f"bi_reader_{tenant}",
                f"gridhouse_{tenant}",
            )
    for tenant, other in (("acme", "globex"), ("globex", "acme")):
        crossing = urls[tenant].replace(f"/gridhouse_{tenant}", f"/gridhouse_{other}")
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(crossing, connect_timeout=5).close()
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(
                urls[tenant].replace(f"/gridhouse_{tenant}", "/gridhouse"), connect_timeout=5
            ).close()
    plain = server.reader_connection("bi_reader")
    for tenant in urls:
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(
                plain.url().replace("/gridhouse", f"/gridhouse_{tenant}"), connect_timeout=5
            ).close()


def trust_folder(home: Path, port: int, running: bool) -> EmbeddedServer:
    """A data folder as gridhouse made them before authentication: initdb --auth=trust, socket folder 0777."""
    server = EmbeddedServer(home, port=port)
    server._prepare_dirs()
    server._run(
        "initdb", "-D", str(server.pgdata), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale"
    )
    server.run_dir.chmod(0o777)
    (home / "port").write_text(f"{port}\n")
    if running:
        server._run("pg_ctl", "start", "-w", "-D", str(server.pgdata), "-l", str(server.log),
                    "-o", f"-h 127.0.0.1 -p {port} -k {server.run_dir}")  # fmt: skip
        with psycopg.connect(
            host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", passfile="/x"
        ) as db:
            assert db.execute("select 1").fetchone() == (1,)  # anyone gets in
    return server


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_a_trust_data_folder_is_upgraded_on_the_next_db_start(tmp_path, running):
    home, port = tmp_path / "old", _free_port()
    server = trust_folder(home, port, running)
    assert server.trusts()
    try:
        result = gridhouse(home, port, "db", "start")
        assert result.returncode == 0, result.stderr
        assert not server.trusts()
        assert stat.S_IMODE(server.run_dir.stat().st_mode) == 0o700
        postgres = Connection("127.0.0.1", port, SUPERUSER, "", "postgres")
        assert "no password supplied" in refused(postgres, None)
        assert "password authentication failed" in refused(postgres, "trust me")
        with server.connection().connect() as db:
            assert db.execute("select current_user").fetchone()[0] == SUPERUSER
        with server.reader_connection("alerting").connect() as db:
            assert db.execute("select current_user").fetchone()[0] == "alerting"
    finally:
        server.stop()


# -- one line and exit 2 for what a user can get wrong ---------------------------------------------
def test_connection_settings_a_user_gets_wrong_give_one_line_and_exit_2(tmp_path):
    home, free = tmp_path / "home", _free_port()
    cases = {
        "postgresql://me@127.0.0.1:fivefour/db": "GRIDHOUSE_DSN gives the port 'fivefour': give a number from 1 to 65535",
        f"postgresql://me:pw@127.0.0.1:{free}/db": f"cannot connect to PostgreSQL as me@127.0.0.1:{free}/db",
    }
    for dsn, expected in cases.items():
        for action in ("status", "url"):
            result = gridhouse(home, 1, "db", action, env={"GRIDHOUSE_DSN": dsn})
            if action == "url" and "fivefour" not in dsn:
                assert result.returncode == 0  # printing a URL needs no connection
                continue
            assert result.returncode == 2, (dsn, action, result.stderr)
            assert expected in one_line(result)
    pgport = gridhouse(home, 1, "db", "status", env={"PGHOST": "127.0.0.1", "PGPORT": "x"})
    assert pgport.returncode == 2 and "PGPORT gives the port 'x'" in one_line(pgport)


def test_a_role_without_create_gets_one_line_and_exit_2(server, fresh_db, tmp_path):
    from simulator import simulate

    simulate(tmp_path / "fleet", seed=1, preset="small", families="batteries")
    with fresh_db.connect(autocommit=True) as db:
        db.execute("drop role if exists weak")
        db.execute("create role weak login password 'weak-password'")
    weak = f"postgresql://weak:weak-password@127.0.0.1:{server.port}/{fresh_db.dbname}"
    result = gridhouse(tmp_path / "home", 1, "load", "batteries", str(tmp_path / "fleet" / "batteries"),
                       env={"GRIDHOUSE_DSN": weak})  # fmt: skip
    assert result.returncode == 2, result.stderr
    line = one_line(result)
    assert line.startswith(
        f"gridhouse: error: the role cannot do what this command needs on weak@127.0.0.1:{server.port}"
    )
    assert "permission denied for database" in line and "grant create on database" in line
    assert scalar(fresh_db, "select count(*) from pg_namespace where nspname like 'raw\\_%%'") == 0


def test_an_internal_error_prints_one_line_and_where_its_traceback_is(monkeypatch, tmp_path, capsys):
    from ingest import cli, db

    def broken(cls):
        raise ZeroDivisionError("a bug")

    monkeypatch.setenv("GRIDHOUSE_HOME", str(tmp_path))
    monkeypatch.setattr(db.EmbeddedServer, "default", classmethod(broken))
    assert cli.main(["db", "status"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    match = re.fullmatch(
        r"gridhouse: internal error: ZeroDivisionError: a bug \(the traceback is in (\S+); please report it\)",
        err[0],
    )
    assert match, err
    log = Path(match.group(1))
    assert log.parent == tmp_path / "logs" and stat.S_IMODE(log.stat().st_mode) == 0o600
    text = log.read_text()
    assert "Traceback" in text and 'raise ZeroDivisionError("a bug")' in text
