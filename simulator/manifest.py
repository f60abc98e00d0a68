"""The manifest: parameters, seed, counts and every injected event of one simulated tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

FORMAT_VERSION = 1


@dataclass
class Event:
    """One injected event. Times are ISO UTC text (None when open-ended or not a time event)."""

    family: str
    kind: str
    entity: str
    start: str | None = None
    end: str | None = None
    series: str | None = None
    file: str | None = None
    positions: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"family": self.family, "kind": self.kind, "entity": self.entity}
        for name in ("series", "start", "end", "file"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.positions:
            data["positions"] = self.positions
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass
class Manifest:
    """What `simulate` wrote: read it back with Manifest.load(out)."""

    out: Path
    seed: int
    params: dict[str, Any]
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per family (not written)

    def add(self, event: Event) -> None:
        self.events.append(event.to_dict())

    def events_of(self, family: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if (family is None or e["family"] == family) and (kind is None or e["kind"] == kind)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "generator": "gridhouse simulator",
            "format_version": FORMAT_VERSION,
            "seed": self.seed,
            "params": self.params,
            "counts": self.counts,
            "truth": self.truth,
            "events": self.events,
        }

    def write(self) -> Path:
        path = self.out / "manifest.json"
        path.write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
        return path

    @classmethod
    def load(cls, out: Path) -> Manifest:
        data = orjson.loads((Path(out) / "manifest.json").read_bytes())
        return cls(
            out=Path(out),
            seed=data["seed"],
            params=data["params"],
            counts=data["counts"],
            events=data["events"],
            truth=data["truth"],
        )
