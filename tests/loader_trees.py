"""Small vendor trees for the loader tests, and the rows they should land, computed here from the input."""

from __future__ import annotations

import json
from pathlib import Path

START_MS = 1_700_000_000_000
SERIES = ("StateOfChargePercentage", "BatteryPowerW", "BatteryExportKwh")


def battery_tree(root: Path, devices: list[str], points: int) -> dict[tuple[str, str, int], float]:
    """assets.json and one telemetry file per device; returns {(device, series, epoch_ms): value}."""
    (root / "assets").mkdir(parents=True, exist_ok=True)
    (root / "telemetry").mkdir(exist_ok=True)
    items = [{"deviceId": d, "description": f"battery {d[:4]}", "state": "Ok"} for d in devices]
    (root / "assets" / "assets.json").write_text(json.dumps({"totalCount": len(items), "items": items}))
    expected: dict[tuple[str, str, int], float] = {}
    for d, device in enumerate(devices):
        doc = {"series": []}
        for s, name in enumerate(SERIES):
            data = [[START_MS + 60_000 * p, point_value(d, s, p)] for p in range(points)]
            doc["series"].append({"name": name, "data": data})
            expected.update({(device, name, t): v for t, v in data})
        (root / "telemetry" / f"{device}.json").write_text(json.dumps(doc))
    return expected


def point_value(d: int, s: int, p: int) -> float:
    """Device d's value of series s at point p: a SoC stays within 0-100 % (the loader quarantines any
    other, docs/quality.md); the others are 1000 and more from the second device on."""
    if SERIES[s] == "StateOfChargePercentage":
        return float((d * 10 + p % 50) % 101)
    return float(d * 1000 + s * 100 + p % 50)


def meter_record(muid: str, timestamp: str, kwh: float, quality: str = "measured") -> dict:
    return {
        "measurement": "energy",
        "timestamp": timestamp,
        "tags": {"muid": muid, "quality": quality},
        "0100011D00FF": kwh,
    }


def write_json(path: Path, body: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
