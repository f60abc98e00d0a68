"""`gridhouse report` on the fixtures' warehouse (the session's built database, read as bi_reader): the
numbers in each figure's JSON equal values computed here from the vendor files (load profile, tariff
split, SoC) or from the circuit samples by hand (organisation usage); a mart without data is a note; the
file loads nothing from the network; headless Chromium draws every chart with no script error, and the
screenshot is kept in the test's temporary folder (its path is printed)."""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import struct
import subprocess
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import FIXTURES, rows
from test_api import fixture_circuit_wh

from ingest.db import Connection
from ingest.report import CHART_HEIGHT_PX, Report, battery_health, write_report

ZURICH = ZoneInfo("Europe/Zurich")  # var meter_time_zone
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
OBIS_SIDE = {"0100011D00FF": "import", "0100021D00FF": "export"}


@pytest.fixture(scope="module")
def written(server, fixture_warehouse, tmp_path_factory) -> tuple[Report, Path, str]:
    bi_reader = Connection(
        fixture_warehouse.host,
        fixture_warehouse.port,
        "bi_reader",
        server.password("bi_reader"),
        fixture_warehouse.dbname,
    )
    out = tmp_path_factory.mktemp("report") / "report.html"
    report = write_report(bi_reader, out)
    return report, out, out.read_text(encoding="utf-8")


def figures(text: str) -> dict[str, dict]:
    """Each chart's figure JSON, as the page's loader hands it to Plotly, by chart div id."""
    found = re.findall(r'<script type="application/json" data-chart="([^"]+)">(.*?)</script>', text, re.S)
    return {chart_id: json.loads(body.replace("<\\/", "</")) for chart_id, body in found}


def traces(figure: dict) -> dict[str, dict]:
    return {t["name"]: t for t in figure["data"]}


def meter_files() -> dict[str, tuple[str, list[tuple[datetime, float]]]]:
    """meter_id -> (side, [(interval start UTC, kWh)]) straight from the Exnaton files."""
    out = {}
    for path in sorted((FIXTURES / "meters").glob("*.json")):
        records = json.loads(path.read_text())["data"]
        (code,) = {k for k in records[0] if k in OBIS_SIDE}
        points = [
            (datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")), float(r[code])) for r in records
        ]
        out[records[0]["tags"]["muid"]] = (OBIS_SIDE[code], points)
    return out


def tariff(local: datetime) -> str:
    """Seed tariff_windows by hand: high on weekdays 07-20 and Saturdays 07-13, low otherwise."""
    weekday, hour = local.isoweekday(), local.hour
    if weekday <= 5 and 7 <= hour < 20 or weekday == 6 and 7 <= hour < 13:
        return "high"
    return "low"


def test_heatmap_is_the_mean_per_weekday_and_quarter_hour_of_the_files(written):
    report, _, text = written
    drawn = figures(text)
    for meter_id, (side, points) in meter_files().items():
        sums: dict[tuple[int, int], list[float]] = defaultdict(list)
        for at, kwh in points:
            local = at.astimezone(ZURICH)
            sums[(local.isoweekday(), local.hour * 4 + local.minute // 15)].append(kwh)
        (heatmap,) = drawn[f"chart-meter-heatmap-{meter_id}"]["data"]
        assert heatmap["type"] == "heatmap" and heatmap["name"] == f"mean {side} kWh"
        # A whole February: every weekday and quarter-hour, 7 x 96 cells.
        assert heatmap["y"] == WEEKDAYS
        assert heatmap["x"] == [f"{q // 4:02d}:{q % 4 * 15:02d}" for q in range(96)]
        assert sum(len(row) for row in heatmap["z"]) == 7 * 96
        for d, row in enumerate(heatmap["z"], start=1):
            for q, value in enumerate(row):
                cell = sums[(d, q)]
                assert value == pytest.approx(sum(cell) / len(cell), rel=1e-9, abs=1e-12), (meter_id, d, q)


def test_daily_bars_are_the_files_split_by_tariff(written):
    _, _, text = written
    drawn = figures(text)
    for meter_id, (side, points) in meter_files().items():
        by_hand: dict[tuple[str, str], float] = defaultdict(float)
        for at, kwh in points:
            local = at.astimezone(ZURICH)
            by_hand[(local.date().isoformat(), tariff(local))] += kwh
        bars = traces(drawn[f"chart-meter-days-{meter_id}"])
        # The meter reports one side only: its bars are that side's, export drawn downwards.
        assert set(bars) == {f"{side} high", f"{side} low"}
        sign = 1 if side == "import" else -1
        got = {}
        for name, trace in bars.items():
            for day, kwh in zip(trace["x"], trace["y"], strict=True):
                got[(day, name.split()[1])] = sign * kwh
        # Every local day with an interval in that tariff is drawn (a zero day of the export meter too).
        assert set(by_hand) == set(got)
        for key, kwh in by_hand.items():
            assert got[key] == pytest.approx(kwh, rel=1e-9, abs=1e-9), (meter_id, key)
        # The local days run from Feb 1 (from 01:00 local) to Mar 1 (its first hour): 29 days.
        assert len({day for day, _ in got}) == 29


def test_soc_lines_are_the_telemetry_files(written):
    _, _, text = written
    soc = traces(figures(text)["chart-battery-soc"])
    names = {
        a["deviceId"]: a["description"]
        for a in json.loads((FIXTURES / "batteries" / "assets" / "assets.json").read_text())["items"]
    }
    want = {}
    for path in (FIXTURES / "batteries" / "telemetry").glob("*.json"):
        for series in json.loads(path.read_text())["series"]:
            if series["name"] == "StateOfChargePercentage":
                points = sorted(series["data"])
                want[names[path.stem]] = (
                    [
                        datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
                        for ms, _ in points
                    ],
                    [float(v) for _, v in points],
                )
    # Zwolle publishes no SoC series (the fixture's README): no line for it.
    assert set(soc) == set(want) == {"Fudura Utrecht", "Fudura Heerlen"}
    for name, (x, y) in want.items():
        assert soc[name]["x"] == x
        assert soc[name]["y"] == pytest.approx(y)
    assert soc["Fudura Heerlen"]["y"][0] == 95 and soc["Fudura Heerlen"]["y"][-1] == 81


def test_org_bars_are_the_sum_of_their_circuits_samples(written, fixture_warehouse):
    _, _, text = written
    org_of = dict(rows(fixture_warehouse, "select duid, organization_name from marts.dim_sensors"))
    kwh: dict[str, float] = defaultdict(float)
    for (duid, _), (wh, _) in fixture_circuit_wh().items():
        kwh[org_of[duid]] += wh / 1000
    bars = traces(figures(text)["chart-org-usage"])
    assert set(bars) == set(kwh) and len(kwh) == 3
    for name, total in kwh.items():
        assert bars[name]["x"] == ["2024-04-01"]  # the fixture's one hour
        assert bars[name]["y"] == [pytest.approx(total, rel=1e-9)]


def test_a_chart_without_data_is_a_note(written, fixture_warehouse):
    report, _, text = written
    # The fixtures hold no smart-home devices.
    for chart_id in ("home-days", "home-totals"):
        assert re.search(
            rf'<div class="chart no-data" id="chart-{chart_id}"><p>no data for home summaries: ', text
        )
        assert f'data-chart="chart-{chart_id}"' not in text
    with_soh = rows(
        fixture_warehouse, "select count(*) from marts.fct_battery_health where soh_pct is not null"
    )
    health = next(c for c in report.charts if c.chart_id == "battery-health")
    assert (health.figure is None) == (with_soh[0][0] == 0)
    assert (health.note or "").startswith("no data for battery health") == (health.figure is None)


def test_health_draws_soh_and_the_projection_to_80_pct():
    """fct_battery_health rows as the mart gives them, with columns the chart does not read."""

    def asset(asset_id: str, soh: list[float], **last) -> list[dict]:
        days = [
            {"asset_id": asset_id, "asset_name": asset_id.upper(), "day_utc": date(2024, 4, d + 1)}
            | {"soh_pct": pct, "capacity_kwh": 1.0, "column_added_later": "x"}
            for d, pct in enumerate(soh)
        ]
        return [{**row, **last} for row in days]

    mart = [
        *asset("a", [99.0, 98.5, 98.0], projected_soh_80_date=date(2030, 1, 1)),
        *asset(
            "b",
            [90.0, 89.0],
            projected_soh_80_date=date(2025, 1, 1),
            projected_soh_80_low_date=date(2024, 10, 1),
            projected_soh_80_high_date=date(2025, 6, 1),
            projection_status="projected",
        ),
        *asset(
            "c", [79.0, 78.0], projected_soh_80_date=date(2026, 12, 7), projection_status="below 80 % already"
        ),
    ]
    chart = battery_health(lambda query, params: mart)
    drawn = {t.name: t for t in chart.figure.data}
    assert set(drawn) == {
        "A",
        "A: 80 % on 2030-01-01",
        "B",
        "B: 80 % on 2025-01-01 (2024-10-01 to 2025-06-01)",
        "C (below 80 % already)",  # no line up to 80 % for an asset already below it
    }
    assert list(drawn["A"].y) == [99.0, 98.5, 98.0]
    projection = drawn["A: 80 % on 2030-01-01"]
    assert list(projection.x) == ["2024-04-03", "2030-01-01"] and list(projection.y) == [98.0, 80.0]
    assert projection.line.color == drawn["A"].line.color  # one colour per battery
    assert chart.figure.layout.shapes[0].y0 == 80  # the end-of-life line


def test_the_file_loads_nothing_from_the_network(written):
    _, _, text = written
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=", text, re.I)
    assert re.search(r'<meta http-equiv="Content-Security-Policy" content="default-src \'none\';', text)
    assert "plotly.js v" in text  # the library itself, inlined


def png_size(data_url: str) -> tuple[int, int]:
    png = base64.b64decode(data_url.split(",", 1)[1])
    return struct.unpack(">II", png[16:24])  # IHDR width, height


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
]


def test_chromium_draws_every_chart_without_a_script_error(written, tmp_path, capsys):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the report is not rendered")
    report, out, text = written
    rows_of_charts = sum(math.ceil(len(s.charts) / 2) for s in report.sections)
    height = 200 + 140 * len(report.sections) + rows_of_charts * (CHART_HEIGHT_PX + 20)
    png = tmp_path / "report.png"
    # The same page with a failing script, a console error and a fetch: the hook must report all three, or
    # the "no error" below proves nothing.
    broken = tmp_path / "broken.html"
    broken.write_text(
        text.replace(
            "</body>",
            '<script>notDefined();</script><script>console.error("boom")</script>'
            '<img src="https://example.com/x.png"></body>',
        ),
        encoding="utf-8",
    )
    runs = {
        what: subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / what}", *extra, page.as_uri()],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for what, page, extra in (
            ("dom", out, ["--dump-dom"]),
            ("png", out, [f"--screenshot={png}", f"--window-size=1400,{height}"]),
            ("broken", broken, ["--dump-dom"]),
        )
    }
    dom, _ = runs["dom"].communicate(timeout=60)
    runs["png"].communicate(timeout=60)
    broken_dom, _ = runs["broken"].communicate(timeout=60)
    assert {run.returncode for run in runs.values()} == {0}
    (caught,) = re.findall(r'<pre id="script-errors"[^>]*>(.*?)</pre>', broken_dom, re.S)
    assert caught.splitlines() == [
        "script error: Uncaught ReferenceError: notDefined is not defined",
        "console error: boom",
        "blocked: img-src https://example.com/x.png",
    ]
    assert png.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nreport screenshot: {png}")

    (errors,) = re.findall(r'<pre id="script-errors"[^>]*>(.*?)</pre>', dom, re.S)
    assert errors == ""
    dom = re.sub(r'<script type="application/json".*?</script>', "", dom, flags=re.S)
    starts = [(m.start(), m.group(1)) for m in re.finditer(r'<div class="chart[^"]*" id="([^"]+)"', dom)]
    assert [c for _, c in starts] == [f"chart-{c.chart_id}" for c in report.charts]
    drawn = figures(text)
    for (start, chart_id), (end, _) in zip(starts, [*starts[1:], (len(dom), "")], strict=True):
        html = dom[start:end]
        if chart_id not in drawn:
            assert "main-svg" not in html and "no data for" in html
            continue
        assert 'class="main-svg"' in html, chart_id
        kinds = [t["type"] for t in drawn[chart_id]["data"]]
        assert html.count('class="trace bars"') == kinds.count("bar"), chart_id
        assert html.count('class="trace scatter') == kinds.count("scatter"), chart_id
        images = re.findall(r'<g class="hm"><image [^>]*href="(data:image/png;base64,[^"]+)"', html)
        assert len(images) == kinds.count("heatmap"), chart_id
        # The heatmap's image holds one pixel per cell: 96 quarter-hours x 7 weekdays.
        assert all(png_size(i) == (96, 7) for i in images)
        assert html.count('class="point"') >= sum(
            len(t["y"]) for t in drawn[chart_id]["data"] if t["type"] == "bar"
        )


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (
            ["--out", "{tmp}/missing/report.html"],
            "--out {tmp}/missing/report.html: folder {tmp}/missing does not",
        ),
        (["--out", "{tmp}"], "--out {tmp} is a folder"),
        (["--out", "{tmp}/r.html", "--days", "0"], "--days 0"),
    ],
)
def test_a_wrong_argument_is_one_line_and_exit_2(argv, named, tmp_path, capsys):
    from ingest.cli import main

    code = main(["report", *(a.format(tmp=tmp_path) for a in argv)])
    err = capsys.readouterr().err
    assert code == 2
    assert named.format(tmp=tmp_path) in " ".join(err.split())
    assert "Traceback" not in err and not (tmp_path / "r.html").exists()
