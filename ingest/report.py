"""`gridhouse report`: one self-contained HTML file of charts over the marts.

Plotly's JavaScript is embedded in the file, so it opens offline: its Content-Security-Policy lets the
page fetch nothing, and a hook writes any script error or blocked fetch into the page (`#script-errors`).
It reads as role ``bi_reader`` (schema ``marts`` only) in read-only sessions; every value from the command
line is a bound parameter, relation and column names are constants here. A chart without data is a note
saying so ("no data for ..."), never an empty plot.

Each figure's JSON sits in a ``<script type="application/json" data-chart=ID>`` next to its div, and one
loader draws them all: the data drawn is exactly the data in the file (tests/test_report.py reads it back).
"""

from __future__ import annotations

import html
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import psycopg
from psycopg.rows import dict_row

from ingest.db import PROJECT_ROOT, Connection
from ingest.errors import GridhouseError

# Each session may only read, and no query runs longer than this (ms); the API's options.
SESSION_OPTIONS = "-c default_transaction_read_only=on -c statement_timeout=60000"
MAX_METERS = 6  # meters drawn (by id); the others are named in a note
SOC_POINTS = 720  # SoC points per battery at most: longer windows are averaged into buckets
CHART_HEIGHT_PX = 380
DAY_AXIS = {"type": "date", "tickformat": "%b %-d, %Y"}  # days, never a time of day on a one-day axis
PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880")
TARIFF_COLOURS = {"high": "#d62728", "low": "#1f77b4", "unassigned": "#7f7f7f"}
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:"
)

Rows = Callable[[str, dict[str, Any]], list[dict]]


@dataclass
class Chart:
    """One chart of the report: a figure, or the note saying why there is none."""

    chart_id: str
    title: str
    figure: go.Figure | None = None
    note: str | None = None


@dataclass
class Section:
    title: str
    charts: list[Chart] = field(default_factory=list)
    intro: str = ""


@dataclass
class Report:
    sections: list[Section]
    source: str
    generated_at: datetime

    @property
    def charts(self) -> list[Chart]:
        return [c for s in self.sections for c in s.charts]


def default_out() -> Path:
    return Path(os.environ.get("GRIDHOUSE_HOME") or PROJECT_ROOT / ".gridhouse") / "report.html"


def reader(target: Connection) -> tuple[Rows, Callable[[], None]]:
    """A query function over one read-only session of ``target``, and its close."""
    conn = target.connect(autocommit=True, options=SESSION_OPTIONS)

    def rows(query: str, params: dict[str, Any]) -> list[dict]:
        try:
            with conn.cursor(row_factory=dict_row) as cursor:
                cursor.execute(query, params)
                return list(cursor.fetchall())
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName) as exc:
            raise NotBuilt(exc.diag.message_primary or "a mart is missing") from None

    return rows, conn.close


class NotBuilt(Exception):
    """A mart the chart reads does not exist here (never built)."""


# -- the charts ---------------------------------------------------------------------------------------------
def _utc(value: datetime) -> str:
    """Plotly reads no zone offsets: UTC instants as plain 'YYYY-MM-DD HH:MM:SS' (axes say UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _layout(fig: go.Figure, title: str, **kwargs: Any) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        template="plotly_white",
        height=CHART_HEIGHT_PX,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.18},
        **kwargs,
    )
    return fig


def meters_drawn(rows: Rows) -> tuple[list[str], list[str]]:
    found = [
        r["meter_id"] for r in rows("select distinct meter_id from marts.fct_meter_daily order by 1", {})
    ]
    return found[:MAX_METERS], found[MAX_METERS:]


def meter_heatmap(rows: Rows, meter_id: str) -> Chart:
    """Mean kWh per local weekday (rows) and quarter-hour (columns): import, or export for a meter that
    reports none."""
    chart = Chart(f"meter-heatmap-{meter_id}", f"Load profile of meter {meter_id}")
    profile = rows(
        "select local_weekday, weekday_name, quarter_hour, local_time_of_day, mean_import_kwh, mean_export_kwh "
        "from marts.fct_meter_load_profile where meter_id = %(meter)s order by local_weekday, quarter_hour",
        {"meter": meter_id},
    )
    side = "import" if any(r["mean_import_kwh"] is not None for r in profile) else "export"
    values = [r for r in profile if r[f"mean_{side}_kwh"] is not None]
    if not values:
        chart.note = f"no data for the load profile of meter {meter_id}: no interval with import or export"
        return chart
    weekdays = sorted({(r["local_weekday"], r["weekday_name"]) for r in values})
    quarters = sorted({(r["quarter_hour"], r["local_time_of_day"]) for r in values})
    cell = {(r["local_weekday"], r["quarter_hour"]): r[f"mean_{side}_kwh"] for r in values}
    z = [[cell.get((d, q)) for q, _ in quarters] for d, _ in weekdays]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[t for _, t in quarters],
            y=[name for _, name in weekdays],
            colorscale="YlOrRd",
            colorbar={"title": {"text": "kWh"}},
            hovertemplate="%{y} %{x}: %{z:.4f} kWh<extra></extra>",
            name=f"mean {side} kWh",
        )
    )
    chart.figure = _layout(
        fig,
        f"Meter {meter_id[:8]}: mean {side} kWh per quarter-hour (local time)",
        yaxis={"autorange": "reversed"},
        xaxis={"nticks": 24},
    )
    return chart


def meter_days(rows: Rows, meter_id: str, days: int) -> Chart:
    """Import (up) and export (down) per local day, stacked by tariff, the last ``days`` days of the meter."""
    chart = Chart(f"meter-days-{meter_id}", f"Daily import and export of meter {meter_id}")
    found = rows(
        "with latest as (select max(local_date) as last_date from marts.fct_meter_tariff_daily "
        "where meter_id = %(meter)s) "
        "select t.local_date, t.tariff_name, t.import_kwh, t.export_kwh "
        "from marts.fct_meter_tariff_daily as t cross join latest "
        "where t.meter_id = %(meter)s and t.local_date > latest.last_date - %(days)s "
        "order by t.local_date, t.tariff_name",
        {"meter": meter_id, "days": days},
    )
    fig = go.Figure()
    for side, sign in (("import", 1), ("export", -1)):
        for tariff in sorted({r["tariff_name"] for r in found}):
            points = [r for r in found if r["tariff_name"] == tariff and r[f"{side}_kwh"] is not None]
            if not points:
                continue
            fig.add_trace(
                go.Bar(
                    x=[r["local_date"].isoformat() for r in points],
                    y=[sign * r[f"{side}_kwh"] for r in points],
                    name=f"{side} {tariff}",
                    marker={"color": TARIFF_COLOURS.get(tariff, "#999"), "opacity": 1 if sign > 0 else 0.55},
                    hovertemplate=f"%{{x}} {side} {tariff}: %{{y:.3f}} kWh<extra></extra>",
                )
            )
    if not fig.data:
        chart.note = f"no data for the daily import and export of meter {meter_id}"
        return chart
    chart.figure = _layout(
        fig,
        f"Meter {meter_id[:8]}: kWh per local day by tariff (import up, export down)",
        barmode="relative",
        yaxis={"title": {"text": "kWh"}},
        xaxis=DAY_AXIS,
    )
    return chart


def battery_soc(rows: Rows, days: int) -> Chart:
    """Each battery's SoC over the last ``days`` days it reported; longer runs averaged into at most
    SOC_POINTS buckets per battery."""
    chart = Chart("battery-soc", "Battery state of charge")
    found = rows(
        "with series as ("
        "  select asset_id, metric, last_measured_at from marts.dim_battery_series"
        "  where quantity = 'StateOfCharge' and unit = '%%'"
        "), points as ("
        "  select t.asset_id, t.measured_at, t.value from marts.battery_telemetry as t"
        "  inner join series on t.asset_id = series.asset_id and t.metric = series.metric"
        "  where t.measured_at > series.last_measured_at - make_interval(days => %(days)s)"
        "), span as ("
        "  select asset_id, greatest(extract(epoch from max(measured_at) - min(measured_at)) / %(points)s, 1)"
        "    as bucket_s from points group by asset_id"
        ") "
        "select p.asset_id, coalesce(b.asset_name, p.asset_id) as asset_name,"
        "  to_timestamp(floor(extract(epoch from p.measured_at) / span.bucket_s) * span.bucket_s) as bucket_at,"
        "  avg(p.value) as soc_pct "
        "from points as p inner join span on p.asset_id = span.asset_id "
        "left join marts.dim_batteries as b on p.asset_id = b.asset_id "
        "group by 1, 2, 3 order by 2, 1, 3",
        {"days": days, "points": SOC_POINTS},
    )
    if not found:
        chart.note = "no data for battery state of charge: no battery reports a SoC series"
        return chart
    fig = go.Figure()
    for (_, name), points in _grouped(found, ("asset_id", "asset_name")):
        fig.add_trace(
            go.Scatter(
                x=[_utc(r["bucket_at"]) for r in points],
                y=[r["soc_pct"] for r in points],
                mode="lines+markers" if len(points) < 60 else "lines",
                name=name,
            )
        )
    chart.figure = _layout(
        fig,
        f"State of charge (%), each battery's last {days} days (UTC)",
        yaxis={"title": {"text": "SoC %"}, "range": [0, 100]},
    )
    return chart


def battery_health(rows: Rows) -> Chart:
    """State of health per UTC day and the linear projection to 80 % (fct_battery_health); reads the
    columns it needs by name, so columns added to the mart change nothing here."""
    chart = Chart("battery-health", "Battery state of health")
    found = rows(
        "select h.*, coalesce(b.asset_name, h.asset_id) as asset_name from marts.fct_battery_health as h "
        "left join marts.dim_batteries as b on h.asset_id = b.asset_id "
        "where h.soh_pct is not null order by asset_name, h.asset_id, h.day_utc",
        {},
    )
    if not found:
        chart.note = (
            "no data for battery health: no battery has a state of health yet (it needs SoC and both battery "
            "counters with enough swing for a capacity estimate; without a nominal capacity SoH is relative to "
            "the first estimate; docs/batteries.md)"
        )
        return chart
    fig = go.Figure()
    for n, ((_, name), points) in enumerate(_grouped(found, ("asset_id", "asset_name"))):
        colour = PALETTE[n % len(PALETTE)]
        last = points[-1]
        projection = end_of_life(last)
        status = last.get("projection_status")
        fig.add_trace(
            go.Scatter(
                x=[r["day_utc"].isoformat() for r in points],
                y=[r["soh_pct"] for r in points],
                mode="lines+markers",
                name=name if projection or not status else f"{name} ({status})",
                legendgroup=name,
                line={"color": colour},
            )
        )
        if projection:
            fig.add_trace(
                go.Scatter(
                    x=[last["day_utc"].isoformat(), projection[0]],
                    y=[last["soh_pct"], 80.0],
                    mode="lines+markers",
                    line={"dash": "dot", "color": colour},
                    name=f"{name}: 80 % on {projection[1]}",
                    legendgroup=name,
                )
            )
    fig.add_hline(y=80, line={"dash": "dash", "color": "#888"}, annotation_text="80 % (end of life)")
    chart.figure = _layout(
        fig,
        "State of health (%) per UTC day, dotted: projected to 80 %",
        yaxis={"title": {"text": "SoH %"}},
    )
    return chart


def end_of_life(last: dict) -> tuple[str, str] | None:
    """The projected 80 % date of an asset's latest row and its label (with the uncertainty range where the
    mart gives one), or None: no projection, or none ahead (the mart's projection_status says why)."""
    projected = last.get("projected_soh_80_date")
    status = last.get("projection_status")
    if projected is None or status not in (None, "projected"):
        return None
    if status is None and (last["soh_pct"] <= 80 or projected <= last["day_utc"]):
        return None  # a mart without projection_status: draw only a fall still ahead
    low, high = last.get("projected_soh_80_low_date"), last.get("projected_soh_80_high_date")
    label = projected.isoformat()
    if low is not None and high is not None:
        label += f" ({low.isoformat()} to {high.isoformat()})"
    return projected.isoformat(), label


def org_usage(rows: Rows, days: int) -> Chart:
    chart = Chart("org-usage", "Organisation usage")
    found = rows(
        "with latest as (select max(usage_date) as last_date from marts.fct_org_usage_daily) "
        "select u.organization_id, u.organization_name, u.usage_date, u.total_energy_kwh, "
        "u.circuits_reporting from marts.fct_org_usage_daily as u cross join latest "
        "where u.usage_date > latest.last_date - %(days)s order by u.organization_name, u.usage_date",
        {"days": days},
    )
    if not found:
        chart.note = "no data for organisation usage: no circuit power loaded"
        return chart
    fig = go.Figure()
    for (_, name), points in _grouped(found, ("organization_id", "organization_name")):
        fig.add_trace(
            go.Bar(
                x=[r["usage_date"].isoformat() for r in points],
                y=[r["total_energy_kwh"] for r in points],
                name=name,
                customdata=[r["circuits_reporting"] for r in points],
                hovertemplate=f"{name} %{{x}}: %{{y:.2f}} kWh (%{{customdata}} circuits)<extra></extra>",
            )
        )
    chart.figure = _layout(
        fig,
        "Energy per organisation and day (kWh)",
        barmode="group",
        yaxis={"title": {"text": "kWh"}},
        xaxis=DAY_AXIS,
    )
    return chart


def home_days(rows: Rows, days: int) -> Chart:
    chart = Chart("home-days", "Home energy per day")
    found = rows(
        "with latest as (select max(local_date) as last_date from marts.fct_home_energy_summary "
        "where grain = 'day') "
        "select s.home_id, s.local_date, s.produced_kwh, s.consumed_kwh, s.net_kwh "
        "from marts.fct_home_energy_summary as s cross join latest "
        "where s.grain = 'day' and s.local_date > latest.last_date - %(days)s order by s.home_id, s.local_date",
        {"days": days},
    )
    if not found:
        chart.note = "no data for home summaries: no smart-home device readings loaded"
        return chart
    fig = go.Figure()
    for (home,), points in _grouped(found, ("home_id",)):
        fig.add_trace(
            go.Scatter(
                x=[r["local_date"].isoformat() for r in points],
                y=[r["net_kwh"] for r in points],
                mode="lines+markers",
                name=home[:8],
                customdata=[[r["produced_kwh"], r["consumed_kwh"]] for r in points],
                hovertemplate=(
                    f"home {home[:8]} %{{x}}: net %{{y:.2f}} kWh (produced %{{customdata[0]:.2f}}, "
                    "consumed %{customdata[1]:.2f})<extra></extra>"
                ),
            )
        )
    chart.figure = _layout(
        fig,
        "Net energy per home and local day (kWh, produced - consumed)",
        yaxis={"title": {"text": "kWh"}},
        xaxis=DAY_AXIS,
    )
    return chart


def home_totals(rows: Rows, days: int) -> Chart:
    chart = Chart("home-totals", "Homes: produced and consumed")
    found = rows(
        "with latest as (select max(local_date) as last_date from marts.fct_home_energy_summary "
        "where grain = 'day') "
        "select s.home_id, sum(s.produced_kwh) as produced_kwh, sum(s.consumed_kwh) as consumed_kwh "
        "from marts.fct_home_energy_summary as s cross join latest "
        "where s.grain = 'day' and s.local_date > latest.last_date - %(days)s group by s.home_id order by 1",
        {"days": days},
    )
    if not found:
        chart.note = "no data for home summaries: no smart-home device readings loaded"
        return chart
    homes = [r["home_id"][:8] for r in found]
    fig = go.Figure(
        [
            go.Bar(
                x=homes, y=[r["produced_kwh"] for r in found], name="produced", marker={"color": "#2ca02c"}
            ),
            go.Bar(
                x=homes, y=[r["consumed_kwh"] for r in found], name="consumed", marker={"color": "#ff7f0e"}
            ),
        ]
    )
    chart.figure = _layout(
        fig,
        f"Produced and consumed per home, last {days} days (kWh)",
        barmode="group",
        yaxis={"title": {"text": "kWh"}},
    )
    return chart


def _grouped(found: Iterable[dict], keys: tuple[str, ...]) -> list[tuple[tuple, list[dict]]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in found:
        groups[tuple(r[k] for k in keys)].append(r)
    return list(groups.items())


def _guarded(make: Callable[[], Chart], chart_id: str, title: str) -> Chart:
    """A chart whose mart is not built is a note saying so; the rest of the report still draws."""
    try:
        return make()
    except NotBuilt as exc:
        return Chart(chart_id, title, note=f"no data for {title.lower()}: {exc} (run `gridhouse build`)")


# -- the report ---------------------------------------------------------------------------------------------
def build_report(rows: Rows, source: str, days: int = 90, soc_days: int = 7) -> Report:
    """Every chart, read through ``rows``; ``days`` counts back from each mart's newest day."""
    try:
        drawn, left = meters_drawn(rows)
    except NotBuilt as exc:
        drawn, left, meter_note = [], [], f"no data for meters: {exc} (run `gridhouse build`)"
    else:
        meter_note = "" if drawn else "no data for meters: no meter intervals loaded"
    meters = Section(
        "Smart meters",
        intro="Load profile (the heatmap: weekday x quarter-hour, local time) and the last "
        f"{days} days of import and export split by the tariff windows (seed tariff_windows).",
    )
    for meter_id in drawn:
        meters.charts.append(
            _guarded(lambda m=meter_id: meter_heatmap(rows, m), f"meter-heatmap-{meter_id}", "Load profile")
        )
        meters.charts.append(
            _guarded(lambda m=meter_id: meter_days(rows, m, days), f"meter-days-{meter_id}", "Meter days")
        )
    if meter_note:
        meters.charts.append(Chart("meters", "Smart meters", note=meter_note))
    if left:
        meters.intro += f" {len(left)} more meters not drawn: {', '.join(left)}."
    sections = [
        meters,
        Section(
            "Batteries",
            [
                _guarded(lambda: battery_soc(rows, soc_days), "battery-soc", "Battery state of charge"),
                _guarded(lambda: battery_health(rows), "battery-health", "Battery health"),
            ],
        ),
        Section(
            "Organisations (circuits)",
            [_guarded(lambda: org_usage(rows, days), "org-usage", "Organisation usage")],
        ),
        Section(
            "Homes",
            [
                _guarded(lambda: home_days(rows, days), "home-days", "Home summaries"),
                _guarded(lambda: home_totals(rows, days), "home-totals", "Home summaries"),
            ],
        ),
    ]
    return Report(sections, source, datetime.now(UTC))


# The hook comes first, so it also catches errors of Plotly itself; a blocked fetch and a console.error
# count as errors too.
ERROR_HOOK = """
window.addEventListener('error', function (e) {
  var box = document.getElementById('script-errors');
  box.hidden = false; box.textContent += 'script error: ' + e.message + '\\n';
});
window.addEventListener('unhandledrejection', function (e) {
  var box = document.getElementById('script-errors');
  box.hidden = false; box.textContent += 'script error: ' + e.reason + '\\n';
});
var consoleError = console.error;
console.error = function () {
  var box = document.getElementById('script-errors');
  box.hidden = false; box.textContent += 'console error: ' + Array.prototype.join.call(arguments, ' ') + '\\n';
  consoleError.apply(console, arguments);
};
document.addEventListener('securitypolicyviolation', function (e) {
  var box = document.getElementById('script-errors');
  box.hidden = false; box.textContent += 'blocked: ' + e.violatedDirective + ' ' + e.blockedURI + '\\n';
});
"""

LOADER = """
document.querySelectorAll('script[type="application/json"][data-chart]').forEach(function (el) {
  var fig = JSON.parse(el.textContent);
  Plotly.newPlot(el.dataset.chart, fig.data, fig.layout, {displaylogo: false, responsive: true, displayModeBar: false});
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { margin-bottom: 4px; } .meta { color: #666; margin-top: 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; }
.chart { border: 1px solid #e3e3e3; border-radius: 6px; min-height: %(h)dpx; }
.no-data { display: flex; align-items: center; justify-content: center; min-height: 120px;
           color: #666; background: #fafafa; padding: 16px; text-align: center; }
#script-errors { color: #b00; background: #fee; padding: 8px; }
"""


def _json_for_script(figure: go.Figure) -> str:
    # "</" would end the script element early.
    return figure.to_json().replace("</", "<\\/")


def render_html(report: Report) -> str:
    from plotly.offline import get_plotlyjs

    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        "<title>gridhouse report</title>",
        f"<style>{STYLE % {'h': CHART_HEIGHT_PX}}</style>",
        f"<script>{ERROR_HOOK}</script>",
        "</head><body>",
        "<h1>gridhouse report</h1>",
        f'<p class="meta">{esc(report.source)}, read {report.generated_at:%Y-%m-%d %H:%M} UTC</p>',
        '<pre id="script-errors" hidden></pre>',
        f"<script>{get_plotlyjs()}</script>",
    ]
    for section in report.sections:
        parts.append(f"<section><h2>{esc(section.title)}</h2>")
        if section.intro:
            parts.append(f"<p>{esc(section.intro)}</p>")
        parts.append('<div class="grid">')
        for chart in section.charts:
            cid = esc(f"chart-{chart.chart_id}")
            if chart.figure is None:
                parts.append(
                    f'<div class="chart no-data" id="{cid}"><p>{esc(chart.note or "no data")}</p></div>'
                )
            else:
                parts.append(f'<div class="chart" id="{cid}"></div>')
                parts.append(
                    f'<script type="application/json" data-chart="{cid}">{_json_for_script(chart.figure)}</script>'
                )
        parts.append("</div></section>")
    parts += [f"<script>{LOADER}</script>", "</body></html>"]
    return "\n".join(parts)


def check_arguments(out: Path, days: int, soc_days: int) -> None:
    """The command line's mistakes, before anything connects."""
    for option, value in (("--days", days), ("--soc-days", soc_days)):
        if value < 1:
            raise GridhouseError(f"{option} {value}: give a number of days, 1 or more")
    if not out.parent.is_dir():
        raise GridhouseError(
            f"--out {out}: folder {out.parent} does not exist; create it or give another path"
        )
    if out.is_dir():
        raise GridhouseError(f"--out {out} is a folder: give a file name, e.g. {out / 'report.html'}")


def write_report(target: Connection, out: Path, days: int = 90, soc_days: int = 7) -> Report:
    """Read the marts as ``target`` (bi_reader) and write the report to ``out``."""
    check_arguments(out, days, soc_days)
    rows, close = reader(target)
    try:
        report = build_report(rows, target.describe(), days, soc_days)
    finally:
        close()
    text = render_html(report)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GridhouseError(f"--out {out}: cannot write it ({exc.strerror}); give another path") from None
    return report


def summary(report: Report) -> str:
    empty = [c.title for c in report.charts if c.figure is None]
    drawn = len(report.charts) - len(empty)
    text = f"{drawn} charts drawn"
    return text + (f", {len(empty)} without data ({', '.join(empty)})" if empty else "")
