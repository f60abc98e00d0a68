"""`gridhouse simulate` and `gridhouse serve`: registered into the main CLI by `register(subparsers)`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from simulator.config import FAMILIES, PRESETS

console = Console(stderr=True)


def _simulate(args: argparse.Namespace) -> int:
    from simulator.fleet import simulate

    knobs: dict[str, Any] = {
        name: getattr(args, name)
        for name in (
            "batteries", "meters", "tenants", "organizations", "locations_per_org", "sensors_per_location",
            "circuits_per_sensor", "homes", "start", "days", "interval", "device_interval", "meter_days",
            "families", "battery_fade_scale", "battery_profiles",
        )
    }  # fmt: skip
    if args.no_events:
        knobs["events"] = False
    began = time.perf_counter()
    manifest = simulate(
        Path(args.out), seed=args.seed, preset=args.preset, quiet=args.quiet, workers=args.workers, **knobs
    )
    seconds = time.perf_counter() - began
    lines = [f"wrote {args.out} in {seconds:.1f} s (seed {manifest.seed})"]
    batteries = manifest.counts.get("batteries")
    if batteries:
        spent = manifest.seconds.get("batteries", 0.0)
        rate = batteries["points"] / spent / 1e6 if spent else 0.0
        lines.append(
            f"  batteries: {batteries['assets']} assets, {batteries['points']:,} telemetry points "
            f"in {spent:.1f} s ({rate:.2f} M points/s, physics + files + truth)"
        )
    for family, key, label in (
        ("meters", "records", "readings"),
        ("circuits", "records", "power samples"),
        ("devices", "readings", "readings"),
    ):
        if family in manifest.counts:
            lines.append(f"  {family}: {manifest.counts[family][key]:,} {label}")
    lines.append(f"  events: {len(manifest.events)} injected (manifest.json), truth in {args.out}/truth/")
    console.print("\n".join(lines), highlight=False, soft_wrap=True)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from simulator.server import make_server

    server = make_server(
        Path(args.dir),
        port=args.port,
        log=args.log,
        fail_rate=args.fail_rate,
        timeout_rate=args.timeout_rate,
        slow_ms=args.slow_ms,
        slow_rate=args.slow_rate,
        hang_s=args.hang_s,
        seed=args.seed,
    )
    console.print(f"serving {args.dir} on {server.base_url} (Ctrl-C stops)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _families(text: str) -> list[str]:
    names = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [n for n in names if n not in FAMILIES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: give a comma list of {','.join(FAMILIES)}")
    return names


def register(subparsers: Any) -> None:
    """Add `simulate` and `serve` to an argparse subparsers object."""
    p = subparsers.add_parser(
        "simulate",
        help="write a simulated fleet in the vendors' formats, with truth tables and a manifest",
        description="Deterministic: the same seed and knobs give a byte-identical tree. "
        "Knobs not given come from --preset, else from the defaults.",
    )
    p.add_argument(
        "--out", required=True, help="output folder (created; a previous simulator output is replaced)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", choices=sorted(PRESETS), help="small: a complete fleet in a few seconds")
    p.add_argument("--batteries", type=int, help="battery assets (default 20)")
    p.add_argument("--meters", type=int, help="smart meters (default 6)")
    p.add_argument("--tenants", type=int, help="tenants the meters belong to (default 2)")
    p.add_argument("--organizations", type=int, help="circuit organizations (default 3)")
    p.add_argument("--locations-per-org", type=int, help="default 2")
    p.add_argument("--sensors-per-location", type=int, help="default 2")
    p.add_argument("--circuits-per-sensor", type=int, help="default 3")
    p.add_argument("--homes", type=int, help="smart homes with devices (default 10)")
    p.add_argument("--start", help="first UTC day, ISO date (default 2024-04-01)")
    p.add_argument("--days", type=int, help="UTC days of batteries, circuits and devices (default 2)")
    p.add_argument("--interval", type=int, help="battery telemetry interval in seconds (default 60)")
    p.add_argument("--device-interval", type=int, help="smart-home reading interval in seconds (default 300)")
    p.add_argument(
        "--meter-days",
        type=int,
        help="meters cover each DST change day of the start year +- this many local days (default 1)",
    )
    p.add_argument("--families", type=_families, help=f"comma list, subset of {','.join(FAMILIES)}")
    p.add_argument(
        "--battery-fade-scale", type=float, help="factor on battery ageing during the span (default 1)"
    )
    p.add_argument(
        "--battery-profiles",
        help="comma list given to battery assets in turn: peak_shaving, arbitrage, frequency, idle, intermittent (default drawn)",
    )
    p.add_argument("--no-events", action="store_true", help="inject no events and no malformed records")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes for the battery chunks, 0 = one per CPU (default 1; the output is the same)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_simulate)

    p = subparsers.add_parser(
        "serve",
        help="serve a simulated (or the fixtures) tree as the vendor REST APIs on 127.0.0.1",
        description="Faults are deterministic per URL and request count for a given --seed.",
    )
    p.add_argument("dir", help="a simulate --out folder, or a folder laid out like ../shared/fixtures")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    p.add_argument("--fail-rate", type=float, default=0.0, help="share of requests answered HTTP 500")
    p.add_argument(
        "--timeout-rate", type=float, default=0.0, help="share of requests that hang (see --hang-s)"
    )
    p.add_argument(
        "--hang-s", type=float, default=30.0, help="how long a timed-out request hangs (default 30)"
    )
    p.add_argument("--slow-ms", type=int, default=0, help="delay added to slow responses, ms")
    p.add_argument("--slow-rate", type=float, default=1.0, help="share of responses delayed by --slow-ms")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault pattern")
    p.add_argument("--log", action="store_true", help="log every request to stderr")
    p.set_defaults(func=_serve)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m simulator simulate|serve ...` without the rest of the gridhouse CLI."""
    from ingest.errors import GridhouseError

    parser = argparse.ArgumentParser(prog="python -m simulator")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except GridhouseError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
