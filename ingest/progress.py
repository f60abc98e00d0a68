"""Progress for long steps: a bar over the files of a load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.db import Connection
from ingest.pipeline import load, vendor
from ingest.reports import FileReport, LoadReport


def load_with_progress(
    source: str,
    path: Path | str,
    conn: Connection,
    full_refresh: bool = False,
    planned: list[Any] | None = None,
) -> LoadReport:
    planned = vendor(source).plan(path) if planned is None else planned
    files = len(planned)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"loading {source}", total=files)

        def advance(report: FileReport) -> None:
            progress.advance(task)

        return load(source, path, conn, full_refresh=full_refresh, on_file=advance, planned=planned)
