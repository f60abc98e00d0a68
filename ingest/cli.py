"""The command line: `gridhouse db|load|build|demo|simulate|serve`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from ingest import __version__
from ingest.errors import GridhouseError

console = Console(stderr=True)


def _db(args: argparse.Namespace) -> int:
    from ingest import db

    given = db.user_connection()
    if given is not None:
        if args.action == "url":
            print(given.url())
        else:
            console.print(
                f"using your database from GRIDHOUSE_DSN / PG* ({given.host}:{given.port}/{given.dbname}); "
                "nothing to start or stop"
            )
        return 0
    server = db.EmbeddedServer.default()
    if args.action == "start":
        conn = server.start()
        console.print(f"embedded PostgreSQL running, data in {server.pgdata}")
        print(conn.url())
    elif args.action == "stop":
        console.print("stopped" if server.stop() else "not running")
    elif args.action == "status":
        running = server.is_running()
        console.print(f"embedded PostgreSQL: {'running' if running else 'stopped'} ({server.pgdata})")
        if running:
            print(server.connection().url())
        return 0 if running else 3
    elif args.action == "url":
        print(db.resolve(start=False).url())
    return 0


def _load(args: argparse.Namespace) -> int:
    from ingest import db
    from ingest.pipeline import vendor
    from ingest.progress import load_with_progress
    from ingest.summary import print_load_reports

    vendor(args.source).plan(args.path)  # a wrong path fails here, before any server starts
    conn = db.resolve()
    report = load_with_progress(args.source, args.path, conn, full_refresh=args.full_refresh)
    print_load_reports([report])
    return 1 if report.failed else 0


def _build(args: argparse.Namespace) -> int:
    from ingest import db
    from ingest.build import build

    dbt_args = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else args.dbt_args
    result = build(db.resolve(), dbt_args)
    return 0 if result.success else 1


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
    p.set_defaults(func=_db)

    p = sub.add_parser("load", help="load one vendor's files into raw_<source>")
    p.add_argument("source", choices=["batteries", "meters", "circuits", "devices"])
    p.add_argument(
        "path", help="folder (or file) laid out like the vendor publishes it, or the API's base URL"
    )
    p.add_argument(
        "--full-refresh", action="store_true", help="re-read files even if unchanged since the last load"
    )
    p.set_defaults(func=_load)

    p = sub.add_parser("build", help="dbt build with the project's profile; extra args go to dbt")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER, help="e.g. --select staging")
    p.set_defaults(func=_build)

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

    p = sub.add_parser("demo", help="load DATA_DIR (or a generated fleet), build, show the result")
    p.add_argument("--data-dir", help="default: $DATA_DIR, else ../shared/fixtures, else a simulated fleet")
    p.set_defaults(func=_demo)

    try:
        from simulator.cli import register
    except ImportError:
        pass
    else:
        register(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GridhouseError as exc:
        console.print(f"[bold red]gridhouse: error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
