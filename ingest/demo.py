"""`gridhouse demo`: load a data folder (or a generated fleet), build the models, show a result."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ingest import db
from ingest.build import build
from ingest.db import PROJECT_ROOT, Connection
from ingest.errors import GridhouseError
from ingest.progress import load_with_progress
from ingest.summary import print_load_reports

console = Console()

# (source, sub-folder of DATA_DIR)
VENDOR_DIRS = (
    ("batteries", "batteries"),
    ("meters", "meters"),
    ("meters", "meters_power"),
    ("circuits", "circuits"),
    ("devices", "devices"),
)
SHARED_FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"

# One question a new user can read at a glance: each battery now, and which alerts pollers would see.
# It reads marts and alert views only (their cost does not grow with history).
SHOWCASE = """
select
    b.asset_name,
    b.vendor_state,
    b.last_measured_at as last_seen,
    soc.last_value as soc_pct,
    (
        select string_agg(a.kind, ', ' order by a.kind)
        from (
            select asset_id, 'low SoC' as kind from alerts.battery_low_soc
            union all select asset_id, 'stale' from alerts.battery_stale
            union all select asset_id, 'no SoC' from alerts.battery_no_soc
            union all select asset_id, 'vendor state' from alerts.battery_vendor_warning
        ) as a
        where a.asset_id = b.asset_id
    ) as alerts
from marts.dim_batteries as b
left join marts.dim_battery_series as soc
    on soc.asset_id = b.asset_id and soc.unit = '%'
order by b.asset_name
limit 10
"""


def default_data_dir() -> Path:
    if os.environ.get("DATA_DIR"):
        return Path(os.environ["DATA_DIR"])
    if SHARED_FIXTURES.exists():
        return SHARED_FIXTURES
    try:
        from simulator import simulate
    except ImportError:
        raise GridhouseError(
            "no data to load: set DATA_DIR to a folder with batteries/, meters/ and/or circuits/ "
            "laid out like the vendors publish them"
        ) from None
    out = Path(os.environ.get("GRIDHOUSE_HOME") or PROJECT_ROOT / ".gridhouse") / "demo-fleet"
    if not (out / "manifest.json").exists():
        console.print(f"no DATA_DIR and no ../shared/fixtures: generating a small fleet in {out}")
        simulate(out, seed=7, preset="small")
    return out


def run_demo(data_dir: Path | None = None) -> int:
    data_dir = data_dir or default_data_dir()
    todo = [(source, data_dir / sub) for source, sub in VENDOR_DIRS if (data_dir / sub).exists()]
    if not todo:
        raise GridhouseError(
            f"DATA_DIR={data_dir} has none of batteries/, meters/, meters_power/, circuits/: "
            "point DATA_DIR at a folder laid out like ../shared/fixtures"
        )
    conn = db.resolve()
    console.print(f"data: {data_dir}\nwarehouse: {conn.url()}")
    reports = [load_with_progress(source, path, conn) for source, path in todo]
    print_load_reports(reports)
    result = build(conn)
    tests_ok = result.count("test", "pass")
    tests_bad = sum(result.count("test", s) for s in ("fail", "error"))
    console.print(
        f"dbt build: {result.count('model', 'success')} models, {result.count('seed', 'success')} seeds, "
        f"{tests_ok} tests passed, {tests_bad} failed, {result.count('test', 'warn')} warnings"
    )
    if result.success:
        show(conn)
        write_demo_report()
    if conn.embedded:
        console.print(
            "\nConnect a BI tool (read-only, marts): [bold]gridhouse db url --role bi_reader[/]; "
            "an alert poller (alerts only): [bold]gridhouse db url --role alerting[/]\n"
            "(the embedded server keeps running; `gridhouse db stop` stops it)"
        )
    else:
        console.print(f"\nConnect psql, pandas or a BI tool to: [bold]{conn.url()}[/]")
    return 0 if result.success else 1


def write_demo_report() -> None:
    """`gridhouse report` into $GRIDHOUSE_HOME/report.html, read as bi_reader like any BI tool; a report
    that cannot be written is one line, the demo's result stands."""
    from ingest.cli import _reader_connection
    from ingest.report import default_out, summary, write_report

    out = default_out()
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        report = write_report(_reader_connection("bi_reader"), out)
    except GridhouseError as exc:
        console.print(f"report not written: {exc}", soft_wrap=True)
        return
    console.print(f"\nReport ({summary(report)}; opens offline): [bold]{out.resolve()}[/]", soft_wrap=True)


def show(conn: Connection) -> None:
    with conn.connect() as session:
        cursor = session.execute(SHOWCASE)
        names = [c.name for c in cursor.description or []]
        rows = cursor.fetchall()
    table = Table(title="Batteries now", title_justify="left")
    for name in names:
        table.add_column(name)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
