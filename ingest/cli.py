"""The command line: `gridhouse db|alerting|load|build|usage|api|report|prune|demo|simulate|serve`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from ingest import __version__
from ingest.errors import GridhouseError

if TYPE_CHECKING:
    from ingest.db import Connection

console = Console(stderr=True)


def _reader_connection(base: str) -> Connection:
    """The connection of reader role `base` (alerting, bi_reader; with GRIDHOUSE_TENANT the tenant's role)
    that `gridhouse db url --role` prints: on your own server GRIDHOUSE_DSN's (or PG*'s) host and database
    with GRIDHOUSE_<ROLE>_PASSWORD, on the embedded server the role's password (the role made if missing)."""
    from ingest import db

    tenant = db.current_tenant()
    given = db.user_connection()
    if given is not None:
        role = db.reader_role(base, tenant)
        password = os.environ.get(db.password_variable(base), "")
        if not password:
            console.print(
                f"no password in the URL: set {db.password_variable(base)} to the password of role "
                f"{role} on your server (an administrator sets it: alter role {role} password '...')",
                soft_wrap=True,
            )
        return db.Connection(given.host, given.port, role, password, given.dbname, given.sslmode)
    server = db.EmbeddedServer.default()
    if not server.is_running():
        raise GridhouseError(
            f"the embedded PostgreSQL in {server.pgdata} is not running: start it with `gridhouse db start`"
        )
    server.ensure_access(tenant)  # the role exists with the password the URL carries
    return server.reader_connection(base, tenant)


def _db(args: argparse.Namespace) -> int:
    from ingest import db

    if args.role and args.action != "url":
        raise GridhouseError(f"--role goes with `gridhouse db url`, not `db {args.action}`")
    if args.role:
        print(_reader_connection(args.role).url())
        return 0
    given = db.user_connection()
    if given is not None:
        if args.action == "url":
            print(given.url(show_password=args.show_password))
        elif args.action == "status":
            with given.connect() as conn:
                version = conn.execute("show server_version").fetchone()[0]
            console.print(
                f"your database {given.describe()} (GRIDHOUSE_DSN / PG*): reachable, PostgreSQL {version}",
                soft_wrap=True,
            )
        else:
            console.print(
                f"using your database from GRIDHOUSE_DSN / PG* ({given.host}:{given.port}/{given.dbname}); "
                "nothing to start or stop"
            )
        return 0
    server = db.EmbeddedServer.default()
    if args.action == "start":
        conn = server.start()
        console.print(
            f"embedded PostgreSQL running, data in {server.pgdata}; passwords in {server.password_file} "
            "(`gridhouse db url --show-password` prints the superuser's URL with it)",
            soft_wrap=True,
        )
        print(conn.url(show_password=args.show_password))
    elif args.action == "stop":
        console.print("stopped" if server.stop() else "not running")
    elif args.action == "status":
        if not server.is_running():
            raise GridhouseError(
                f"the embedded PostgreSQL in {server.pgdata} is not running: start it with `gridhouse db start`"
            )
        conn = server.connection()
        with conn.connect() as probe:
            probe.execute("select 1")
        console.print(
            f"embedded PostgreSQL: running ({server.pgdata}), accepting {conn.describe()}", soft_wrap=True
        )
        print(conn.url(show_password=args.show_password))
    elif args.action == "url":
        print(db.resolve(start=False).url(show_password=args.show_password))
    return 0


def _alerting(args: argparse.Namespace) -> int:
    from ingest.alerting import EXPORTER_CONFIG, exporter_config, write_private

    text = exporter_config(_reader_connection("alerting"))
    if args.out in (None, "-"):
        sys.stdout.write(text)
        return 0
    write_private(Path(args.out), text)
    console.print(
        f"wrote {args.out} (mode 0600: it holds role alerting's password): {EXPORTER_CONFIG.name} with the URL "
        f"of `gridhouse db url --role alerting`. Run: prometheus-sql-exporter -config.file {args.out} "
        "-web.listen-address 127.0.0.1:9237",
        soft_wrap=True,
    )
    return 0


def _load(args: argparse.Namespace) -> int:
    from ingest import db
    from ingest.pipeline import vendor
    from ingest.progress import load_with_progress
    from ingest.summary import print_load_reports

    if args.to == "lake":
        from ingest.lake import load_command

        return load_command(args)
    planned = vendor(args.source).plan(args.path)  # a wrong path fails here, before any server starts
    conn = db.resolve()
    report = load_with_progress(args.source, args.path, conn, full_refresh=args.full_refresh, planned=planned)
    print_load_reports([report])
    return 1 if report.failed else 0


def _build(args: argparse.Namespace) -> int:
    from ingest import db
    from ingest.build import build

    dbt_args = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else args.dbt_args
    result = build(db.resolve(), dbt_args)
    return 0 if result.success else 1


def _sync(args: argparse.Namespace) -> int:
    from ingest.sync import command, pipelines_command

    return pipelines_command() if args.pipelines else command(args.every)


def _prune(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ingest import db
    from ingest.prune import prune
    from ingest.usage import parse_time

    as_of = parse_time(args.as_of, "--as-of") if args.as_of else None
    overrides = {
        "raw": args.raw_days,
        "hourly": args.hourly_days,
        "daily": args.daily_days,
        "monthly": args.monthly_days,
    }
    results = prune(db.resolve(), as_of=as_of, overrides=overrides, dry_run=args.dry_run)
    table = Table(title="Retention tiers" + (" (dry run: nothing deleted)" if args.dry_run else ""))
    for name in ("tier", "table", "keep days", "older than", "rows deleted"):
        table.add_column(name)
    for r in results:
        table.add_row(
            r.tier,
            r.relation,
            "forever" if r.keep_days is None else str(r.keep_days),
            "" if r.cutoff is None else r.cutoff.isoformat(),
            f"{r.rows:,}",
        )
    Console().print(table)
    return 0


def _usage(args: argparse.Namespace) -> int:
    from ingest import db, usage

    if args.level == "circuit":
        result = usage.circuit_usage(db.resolve(), args.sensor, args.number, args.start, args.end)
        title = f"Circuit {result['circuit_number']} of {result['sensor_name']} ({result['location_name']})"
    else:
        result = usage.org_usage(db.resolve(), args.org, args.start, args.end)
        title = f"Organization {result['organization_name']}"
    usage.render(result, args.format, f"{title}, [{result['from']}, {result['to']})")
    return 0


def _api(args: argparse.Namespace) -> int:
    from ingest.api import serve

    if not 0 < args.port < 65536:
        raise GridhouseError(f"--port {args.port} is not a port: give a number from 1 to 65535")
    serve(args.host, args.port)
    return 0


def _report(args: argparse.Namespace) -> int:
    from ingest.report import check_arguments, default_out, summary, write_report

    out = Path(args.out) if args.out else default_out()
    if not args.out:
        out.parent.mkdir(parents=True, exist_ok=True)
    check_arguments(out, args.days, args.soc_days)  # before connecting: a wrong --out costs no login
    report = write_report(_reader_connection("bi_reader"), out, args.days, args.soc_days)
    console.print(f"report: {summary(report)}; opens offline in any browser", soft_wrap=True)
    print(out.resolve())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ingest.demo import run_demo

    return run_demo(Path(args.data_dir) if args.data_dir else None)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="gridhouse", description="Energy-analytics warehouse: load, build, query."
    )
    top.add_argument("--version", action="version", version=f"gridhouse {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("db", help="the embedded PostgreSQL: start, stop, status, url")
    p.add_argument("action", choices=["start", "stop", "status", "url"])
    p.add_argument(
        "--role",
        choices=["alerting", "bi_reader"],
        help="url: the URL of a reader role, with its password (with GRIDHOUSE_TENANT: that tenant's role)",
    )
    p.add_argument(
        "--show-password", action="store_true", help="put the superuser's password into the printed URL"
    )
    p.set_defaults(func=_db)

    p = sub.add_parser("alerting", help="the alerting deploy (deploy/alerting/): write its configuration")
    p.add_argument(
        "what",
        choices=["exporter-config"],
        help="exporter-config: deploy/alerting/sql_exporter.yml with the URL of `gridhouse db url --role alerting`",
    )
    p.add_argument("--out", help="file to write (mode 0600); default: standard output")
    p.set_defaults(func=_alerting)

    p = sub.add_parser("load", help="load one vendor's files into raw_<source>")
    p.add_argument("source", choices=["batteries", "meters", "circuits", "devices"])
    p.add_argument(
        "path", help="folder (or file) laid out like the vendor publishes it, or the API's base URL"
    )
    p.add_argument(
        "--full-refresh", action="store_true", help="re-read files even if unchanged since the last load"
    )
    p.add_argument(
        "--to",
        choices=["postgres", "lake"],
        default="postgres",
        help="lake: devices as parquet for the Spark tier (docs/spark.md); default: the database",
    )
    p.set_defaults(func=_load)

    p = sub.add_parser("build", help="dbt build with the project's profile; extra args go to dbt")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER, help="e.g. --select staging")
    p.set_defaults(func=_build)

    p = sub.add_parser(
        "sync", help="load every configured vendor (.dlt/config.toml), build only what the new loads feed"
    )
    p.add_argument("--every", metavar="DURATION", help="repeat every DURATION (30s, 15m, 1h) until stopped")
    p.add_argument(
        "--pipelines",
        action="store_true",
        help="print each vendor's `dlt pipeline ... info` command; no sync",
    )
    p.set_defaults(func=_sync)

    p = sub.add_parser(
        "prune", help="apply the smart-home retention tiers (plain PostgreSQL; docs/devices.md)"
    )
    p.add_argument("--as-of", help="reference time, ISO 8601 (default: now)")
    p.add_argument("--raw-days", type=int, help="keep raw device readings this many days (default: dbt var)")
    p.add_argument("--hourly-days", type=int, help="keep the hourly tier this many days (default: dbt var)")
    p.add_argument("--daily-days", type=int, help="keep the daily tier this many days (default: dbt var)")
    p.add_argument("--monthly-days", type=int, help="keep the monthly tier this many days (default: forever)")
    p.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    p.set_defaults(func=_prune)

    p = sub.add_parser("usage", help="energy and mean power of a circuit or an organization in [from, to)")
    levels = p.add_subparsers(dest="level", required=True)
    for level, helptext in (
        ("circuit", "one circuit: --sensor <sensor id or duid> --number <circuit number>"),
        ("org", "one organization: --org <organization id>; total and average per circuit"),
    ):
        q = levels.add_parser(level, help=helptext)
        if level == "circuit":
            q.add_argument("--sensor", required=True, help="the sensor's id or its duid (16 hex chars)")
            q.add_argument("--number", required=True, type=int, help="the circuit's number on that sensor")
        else:
            q.add_argument("--org", required=True, help="the organization's id")
        q.add_argument("--from", dest="start", required=True, help="window start, ISO 8601 (UTC if no zone)")
        q.add_argument("--to", dest="end", required=True, help="window end (exclusive), ISO 8601")
        q.add_argument("--format", choices=["table", "json"], default="table", help="default: table")
        q.set_defaults(func=_usage)

    p = sub.add_parser("api", help="a read-only HTTP API over the marts, as bi_reader (docs at /docs)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.set_defaults(func=_api)

    p = sub.add_parser("report", help="one self-contained HTML file of charts over the marts, as bi_reader")
    p.add_argument("--out", help="file to write (default: $GRIDHOUSE_HOME/report.html, i.e. .gridhouse/)")
    p.add_argument("--days", type=int, default=90, help="daily charts: each mart's last N days (default 90)")
    p.add_argument(
        "--soc-days", type=int, default=7, help="battery SoC: each battery's last N days (default 7)"
    )
    p.set_defaults(func=_report)

    p = sub.add_parser("demo", help="load DATA_DIR (or a generated fleet), build, show the result")
    p.add_argument("--data-dir", help="default: $DATA_DIR, else ../shared/fixtures, else a simulated fleet")
    p.set_defaults(func=_demo)

    from ingest.spark import register as register_spark

    register_spark(sub)
    try:
        from simulator.cli import register
    except ImportError:
        pass
    else:
        register(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    # `gridhouse build` hands every argument it does not know to dbt (--select, --full-refresh, ...):
    # argparse's REMAINDER alone misses options that come first.
    top = parser()
    args, unknown = top.parse_known_args(argv)
    if unknown and (getattr(args, "func", None) is _build or getattr(args, "command", "") == "spark"):
        args.dbt_args = [*unknown, *args.dbt_args]
    elif unknown:
        top.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.func(args) or 0)
    except GridhouseError as exc:
        _error(str(exc))
        return 2
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    except Exception as exc:
        denied = _privilege_error(exc)
        if denied is not None:
            _error(denied)
            return 2
        log = _write_error_log(args)
        console.print(
            f"[bold red]gridhouse: internal error:[/] {type(exc).__name__}: {_first_line(exc)} "
            f"(the traceback is in {log}; please report it)",
            highlight=False,
            soft_wrap=True,
        )
        return 1


def _error(message: str) -> None:
    console.print(f"[bold red]gridhouse: error:[/] {message}", highlight=False, soft_wrap=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and every one it wraps (raise from, during handling, dlt's .exception)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen) or len(seen) > 50:
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__, getattr(current, "exception", None)]
    return [c for c in seen if isinstance(c, BaseException)]


def _privilege_error(exc: BaseException) -> str | None:
    """One line for a role that may not do what the command needs (no CREATE on the database, ...)."""
    for cause in _causes(exc):
        if any(k.__name__ == "InsufficientPrivilege" for k in type(cause).__mro__):
            from ingest import db

            try:
                target = db.user_connection()
                where = target.describe() if target else "the embedded database"
            except GridhouseError:
                where = "the database"
            return (
                f"the role cannot do what this command needs on {where}: {_first_line(cause)} "
                "(connect as the database's owner, or grant the role CREATE on the database: "
                "`grant create on database <db> to <role>`)"
            )
    return None


def _write_error_log(args: argparse.Namespace) -> Path:
    """The traceback of an unexpected error, in $GRIDHOUSE_HOME/logs (mode 0600), else the temp folder."""
    import tempfile
    import traceback
    from datetime import UTC, datetime

    from ingest.db import PROJECT_ROOT

    name = f"gridhouse-error-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}.log"
    text = f"gridhouse {__version__} {args.command}\n{traceback.format_exc()}"
    home = Path(os.environ.get("GRIDHOUSE_HOME") or PROJECT_ROOT / ".gridhouse")
    for folder in (home / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as log:
                log.write(text)
            return folder / name
        except OSError:
            continue
    return Path("(nowhere: no writable folder)")


if __name__ == "__main__":
    sys.exit(main())
