"""One way to record a bad record: file, position, field, reason and every byte of the record.

`raw_text` is the record's text, whole (PostgreSQL keeps a long value out of line, TOAST). Where that
text is not exactly the record's bytes (bytes that are not UTF-8, a NUL, which PostgreSQL text cannot
hold), `raw_text` shows them as U+FFFD and U+2400 and `raw_bytes` (bytea) holds the bytes as read;
otherwise `raw_bytes` is null. So `coalesce(raw_bytes, convert_to(raw_text, 'UTF8'))` is always the
record's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import orjson
import pyarrow as pa

SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("position", pa.string(), nullable=False),
        pa.field("field", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw_text", pa.string()),
        pa.field("raw_bytes", pa.binary()),
        pa.field("_source_file", pa.string(), nullable=False),
        pa.field("_loaded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
PRIMARY_KEY = ["source_file", "position"]


class Flawed:
    """A parsed value that holds something the loader cannot load (ingest/documents.py makes them): an
    unparsable part, NaN, a number out of range, a NUL, bytes that are not UTF-8, a duplicate key.

    `problem` says what (the first one found inside), `own` whether it is this value's own (a duplicate
    key of this object) rather than a part's, `raw` is the exact bytes the value was read from."""

    problem: str
    own: bool

    @property
    def raw(self) -> bytes:
        raise NotImplementedError


def record_bytes(value: object) -> bytes:
    """The record's bytes: as read where the parser kept them, else its JSON (compact)."""
    if isinstance(value, Flawed):
        return value.raw
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")  # bytes a tolerant decode kept as surrogates
    try:
        return orjson.dumps(value)
    except TypeError:
        return repr(value).encode("utf-8", "backslashreplace")


def raw_columns(value: object) -> tuple[str, bytes | None]:
    """(raw_text, raw_bytes): the record's text, and its bytes where the text cannot be them."""
    data = record_bytes(value)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace").replace("\x00", "\u2400"), data
    if "\x00" in text:
        return text.replace("\x00", "\u2400"), data
    return text, None


def safe_text(text: str) -> str:
    """`text` as PostgreSQL text can hold it: no NUL, no lone surrogate (names and reasons quote input)."""
    if text.isascii() and "\x00" not in text:
        return text
    return text.replace("\x00", "\u2400").encode("utf-8", "replace").decode("utf-8")


JsonPath = tuple[str | int, ...]  # keys and indices from the top of a JSON document to a value


@dataclass
class Rejects:
    """Bad records of one file, collected while parsing it.

    A record given as a parsed value with `at`, its path in the JSON document, is stored as the bytes
    found there once the file is parsed (locate): what was read, not the value written back."""

    source_file: str
    rows: list[dict[str, object]] = field(default_factory=list)

    def add(
        self, position: str, field_name: str | None, reason: str, raw: object, at: JsonPath | None = None
    ) -> None:
        self.rows.append(
            {
                "position": safe_text(position),
                "field": None if field_name is None else safe_text(field_name),
                "reason": safe_text(reason),
                "raw": raw,
                "at": None if isinstance(raw, Flawed | bytes | str) else at,
            }
        )

    def unlocated(self) -> list[JsonPath]:
        """The paths of the records whose bytes are still to be found in the document."""
        return [row["at"] for row in self.rows if row["at"] is not None]  # type: ignore[misc]

    def locate(self, found: dict[JsonPath, bytes]) -> None:
        """Take the records' bytes found at their paths (documents.locate)."""
        for row in self.rows:
            at = row["at"]
            if at is not None and at in found:
                row["raw"], row["at"] = found[at], None  # type: ignore[index]

    def __len__(self) -> int:
        return len(self.rows)

    def table(self, loaded_at: datetime) -> pa.Table:
        n = len(self.rows)
        raw = [raw_columns(r["raw"]) for r in self.rows]
        return pa.Table.from_pydict(
            {
                "source_file": [self.source_file] * n,
                "position": [r["position"] for r in self.rows],
                "field": [r["field"] for r in self.rows],
                "reason": [r["reason"] for r in self.rows],
                "raw_text": [text for text, _ in raw],
                "raw_bytes": [data for _, data in raw],
                "_source_file": [self.source_file] * n,
                "_loaded_at": [loaded_at] * n,
            },
            schema=SCHEMA,
        )
