"""What a run did, as tables a person reads."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ingest.reports import LoadReport

console = Console()


def print_load_reports(reports: list[LoadReport]) -> None:
    table = Table(title="Load", title_justify="left")
    for name in ("source", "files", "unchanged", "read", "loaded", "corrected", "quarantined"):
        table.add_column(name, justify="left" if name == "source" else "right")
    for r in reports:
        table.add_row(
            r.source,
            str(len(r.files)),
            str(r.unchanged_files),
            f"{r.read:,}",
            f"{r.loaded:,}",
            f"{r.corrected:,}",
            f"{r.quarantined:,}",
        )
    console.print(table)
    for f in (f for r in reports for f in r.failed):
        console.print(f"  [red]not loaded[/] {f.file}: {f.error} (retried on the next load)", highlight=False)
    _per_file(reports, "quarantined", "see raw_<source>.quarantine")
    _per_file(reports, "corrected", "the replaced rows are in raw_<source>.<table>_replaced")


def _per_file(reports: list[LoadReport], count: str, where: str) -> None:
    """The first files with records `count` (quarantined, corrected), one line each."""
    files = [f for r in reports for f in r.files if getattr(f, count)]
    for f in files[:10]:
        console.print(f"  {count} {getattr(f, count):,} of {f.read:,} records in {f.file}")
    if len(files) > 10:
        console.print(f"  … and {len(files) - 10} more files with {count} records ({where})")
