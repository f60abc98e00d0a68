"""Growth: the whole pipeline (load every vendor + `dbt build --full-refresh`) at 10x the rows vs 1x.

    python -m bench.growth [--scale S]

The same fleet over BASE_DAYS (1x) and HISTORY_DAYS = 10 x BASE_DAYS (10x), each loaded into a fresh
database. Goal: 10x the rows costs at most 11x the time.
"""

from __future__ import annotations

from bench.harness import BASE_DAYS, HISTORY_DAYS, Result, Workspace
from bench.steps import main_for


def run(ws: Workspace) -> list[Result]:
    one, ten = ws.warehouse(BASE_DAYS), ws.warehouse(HISTORY_DAYS)
    detail = {
        label: {
            "days": w.days,
            "rows": w.rows,
            "load_s": round(w.load_s, 2),
            "build_s": round(w.build_s, 2),
            "slowest_nodes": w.nodes,
        }
        for label, w in (("1x", one), ("10x", ten))
    }
    detail["rows_ratio"] = round(ten.rows / one.rows, 2) if one.rows else None
    return [
        Result(
            "growth",
            f"load + build, {HISTORY_DAYS} vs {BASE_DAYS} days",
            ten.pipeline_s,
            one.pipeline_s,
            "s",
            goal="<= 11",
            detail=detail,
        )
    ]


if __name__ == "__main__":
    main_for(run, __doc__)
