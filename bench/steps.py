"""Run one benchmark step alone: `python -m bench.<step> [--scale S] [--json PATH]`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from bench.harness import Result, Workspace, machine, render, write_json

# The default fleet: one whose 90-day full refresh takes at least 2 minutes on the 2-core VM with room to
# spare (the premise of the incremental step's ratio, which its row records: at SCALE=2 the refresh came
# down to 122 s once the tests were folded per model), and the whole bench stays under 10 minutes there.
DEFAULT_SCALE = 2.5


def scale_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("SCALE") or DEFAULT_SCALE),
        help=f"fleet size multiplier (env SCALE; default {DEFAULT_SCALE})",
    )


def main_for(step: Callable[[Workspace], list[Result]], doc: str | None) -> None:
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    scale_arg(parser)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    with Workspace(args.scale) as ws:
        results = step(ws)
    render(results, caption=f"scale {args.scale}, {machine()}")
    if args.json:
        write_json(results, args.json, scale=args.scale, machine=machine())
