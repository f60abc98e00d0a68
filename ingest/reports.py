"""What a load read, loaded and quarantined, per file and per source."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FileReport:
    """Counts for one file. Invariant: read == loaded + quarantined.

    `loaded` counts every record the raw tables now hold as the file gave it: rows new to the table,
    rows that replaced a held row of the same key with other values (`corrected`, the replaced ones
    kept in `<table>_replaced`), and rows already held with the same values (of those, `skipped` were
    recognised by the series marks and not even sent). A file whose content a finished load already
    loaded is not read at all (`unchanged`).
    """

    source: str
    file: str
    read: int = 0
    loaded: int = 0
    corrected: int = 0
    skipped: int = 0
    quarantined: int = 0
    unchanged: bool = False
    error: str | None = None  # the input could not be fetched; it is retried on the next load
    parse_seconds: float = 0.0  # parsing, checking and splitting by the series marks

    @property
    def balanced(self) -> bool:
        return self.read == self.loaded + self.quarantined


@dataclass
class LoadReport:
    source: str
    files: list[FileReport] = field(default_factory=list)
    # wall seconds per step: prepare (tables, pipeline), extract (includes parse), normalize,
    # load (the database), settle (late rows)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def parse_seconds(self) -> float:
        return sum(f.parse_seconds for f in self.files)

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def loaded(self) -> int:
        return sum(f.loaded for f in self.files)

    @property
    def corrected(self) -> int:
        return sum(f.corrected for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.error]

    @property
    def unchanged_files(self) -> int:
        return sum(f.unchanged for f in self.files)
