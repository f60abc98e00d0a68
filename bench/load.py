"""Load: the dlt loader's rows/s vs a plain COPY of the same rows into the same database.

    python -m bench.load

Runs `python -m bench.load_vs_copy --json ...` (its own tree and server; loader and COPY alternate over
several runs into fresh databases) and turns its medians into a row. Goal: the loader reaches at least
0.6 of the rows/s of a plain binary COPY of the same rows into the same raw table.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import Result, Workspace
from bench.steps import main_for


def result_from(figures: dict[str, Any]) -> Result:
    return Result(
        "load",
        f"dlt vs COPY, {figures['rows']:,} telemetry rows ({figures.get('loader_format', 'parquet')}, "
        f"median of {figures.get('runs', 1)} runs)",
        float(figures["dlt_rows_per_s"]),
        float(figures["copy_rows_per_s"]),
        "rows/s",
        goal=">= 0.6",
        detail=figures,
    )


def run(ws: Workspace) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="gridhouse-bench-load-") as tmp:
        out = Path(tmp) / "load_vs_copy.json"
        # 5 alternating runs: the median holds and the step stays near a minute in `make bench`
        cmd = [sys.executable, "-m", "bench.load_vs_copy", "--runs", "5", "--json", str(out)]
        subprocess.run(cmd, check=True)
        return [result_from(json.loads(out.read_text()))]


if __name__ == "__main__":
    main_for(run, __doc__)
