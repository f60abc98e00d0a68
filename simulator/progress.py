"""Progress bars on stderr while a fleet is written (or nothing, when quiet)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Advance = Callable[[int], None]


class Tracker:
    """One bar per family; `quiet` turns every call into a no-op."""

    def __init__(self, quiet: bool = True) -> None:
        self._progress: Progress | None = None
        if not quiet:
            self._progress = Progress(
                TextColumn("{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )

    def __enter__(self) -> Tracker:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def task(self, name: str, total: int) -> Iterator[Advance]:
        progress = self._progress
        if progress is None:
            yield lambda n: None
            return
        task_id = progress.add_task(name, total=total)

        def advance(n: int) -> None:
            progress.advance(task_id, n)

        yield advance
        progress.update(task_id, completed=total)
