"""Run one benchmark step alone: `python -m bench.<step> [--scale S] [--json PATH]`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from bench.harness import Result, Workspace, machine, render, write_json


def scale_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("SCALE") or 1),
        help="fleet size multiplier (env SCALE; default 1)",
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
