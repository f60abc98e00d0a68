"""One way to record a bad record: file, position, field, reason and the raw text."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import orjson
import pyarrow as pa

RAW_TEXT_LIMIT = 2000

SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("position", pa.string(), nullable=False),
        pa.field("field", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw_text", pa.string()),
        pa.field("_source_file", pa.string(), nullable=False),
        pa.field("_loaded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
PRIMARY_KEY = ["source_file", "position"]


def raw_text(value: object) -> str:
    """The record as text, as close to the input as the parser lets us, cut at RAW_TEXT_LIMIT."""
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="replace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value).decode()
        except TypeError:
            text = repr(value)
    return text if len(text) <= RAW_TEXT_LIMIT else text[:RAW_TEXT_LIMIT] + "…"


@dataclass
class Rejects:
    """Bad records of one file, collected while parsing it."""

    source_file: str
    rows: list[dict[str, str | None]] = field(default_factory=list)

    def add(self, position: str, field_name: str | None, reason: str, raw: object) -> None:
        self.rows.append(
            {
                "position": position,
                "field": field_name,
                "reason": reason,
                "raw_text": raw_text(raw),
            }
        )

    def __len__(self) -> int:
        return len(self.rows)

    def table(self, loaded_at: datetime) -> pa.Table:
        n = len(self.rows)
        return pa.Table.from_pydict(
            {
                "source_file": [self.source_file] * n,
                "position": [r["position"] for r in self.rows],
                "field": [r["field"] for r in self.rows],
                "reason": [r["reason"] for r in self.rows],
                "raw_text": [r["raw_text"] for r in self.rows],
                "_source_file": [self.source_file] * n,
                "_loaded_at": [loaded_at] * n,
            },
            schema=SCHEMA,
        )
