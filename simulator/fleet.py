"""`simulate`: write a whole fleet (vendor files, truth, manifest) into one output folder."""

from __future__ import annotations

import os
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any

from ingest.errors import GridhouseError
from simulator.config import FAMILIES, SimConfig, make_config
from simulator.manifest import Manifest
from simulator.progress import Tracker

OWNED = (*FAMILIES, "truth", "manifest.json")
MARKER = ".gridhouse-simulator"  # written first, so that an interrupted run can be replaced too


def simulate(
    out: Path,
    seed: int = 0,
    *,
    preset: str | None = None,
    quiet: bool = True,
    workers: int = 1,
    **knobs: Any,
) -> Manifest:
    """Write a simulated fleet under `out` and return its manifest.

    Knobs are the SimConfig fields (batteries, meters, tenants, organizations, locations_per_org,
    sensors_per_location, circuits_per_sensor, homes, start, days, interval, device_interval,
    meter_days, families, events); a preset fills the ones not given. The same seed and knobs give a
    byte-identical tree. `quiet=False` shows progress bars on stderr. `workers` > 1 simulates battery
    chunks in that many processes (0 = one per CPU); the output does not depend on it.
    """
    config = make_config(seed=seed, preset=preset, **knobs)
    if workers < 0:
        raise GridhouseError(f"simulate: --workers {workers}; give 0 (one per CPU) or more")
    return write_fleet(config, Path(out), quiet=quiet, workers=workers or os.cpu_count() or 1)


def prepare_out(out: Path) -> None:
    """An empty output folder, or one a previous run wrote (its parts are removed first)."""
    if out.exists() and not out.is_dir():
        raise GridhouseError(f"simulate: --out {out} is a file; give a folder")
    if out.exists() and any(out.iterdir()):
        if not (out / "manifest.json").exists() and not (out / MARKER).exists():
            raise GridhouseError(
                f"simulate: --out {out} is not empty and holds no manifest.json; "
                "give an empty or new folder (a previous simulator output is replaced)"
            )
        for name in OWNED:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_bytes(b"")


def write_fleet(config: SimConfig, out: Path, quiet: bool = True, workers: int = 1) -> Manifest:
    from simulator.batteries import write_batteries
    from simulator.circuits import write_circuits
    from simulator.devices import write_devices
    from simulator.meters import write_meters

    prepare_out(out)
    manifest = Manifest(out=out, seed=config.seed, params=config.to_dict())
    writers = {
        "batteries": (
            partial(write_batteries, workers=workers),
            config.batteries + (2 if config.events and config.batteries else 0),
        ),
        "meters": (write_meters, config.meters),
        "circuits": (write_circuits, config.days),
        "devices": (write_devices, config.homes),
    }
    with Tracker(quiet=quiet) as tracker:
        for family in config.families:
            writer, total = writers[family]
            began = time.perf_counter()
            with tracker.task(family, total) as advance:
                writer(config, out, manifest, advance)
            manifest.seconds[family] = time.perf_counter() - began
    manifest.write()
    return manifest
