"""The shipped poller: prometheus-sql-exporter with deploy/alerting/sql_exporter.yml as `gridhouse alerting
exporter-config` writes it (the shipped file with the URL of `gridhouse db url --role alerting`, nothing
else changed), as role `alerting`, follows an injected low-SoC episode (gauge appears with the episode's
start, then goes away on recovery). Skips where the Debian package is absent (CI installs it). promtool
checks the rules and prometheus.yml (the scrape job the rules name) and runs the rules' timing tests;
amtool checks the Alertmanager example, each where installed."""

from __future__ import annotations

import contextlib
import difflib
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, requires_fixtures
from test_battery_support import HEERLEN, add_points, build_fixture_batteries, load_fixture_batteries

from ingest.db import PROJECT_ROOT

ALERTING = PROJECT_ROOT / "deploy" / "alerting"
EXPORTER = shutil.which("prometheus-sql-exporter")
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
LAST_MS = 1738850618000  # the fixtures' last point

pytestmark = requires_fixtures


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def _wait_for(port: int, pattern: str, present: bool, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        try:
            text = _scrape(port)
        except OSError:
            text = ""
        if text and (re.search(pattern, text, re.M) is not None) == present:
            return text
        time.sleep(0.5)
    raise AssertionError(
        f"pattern {pattern!r} {'never appeared' if present else 'never went away'}:\n{text[-3000:]}"
    )


def test_prometheus_scrapes_the_exporter_under_the_job_name_the_rules_expect():
    prometheus = yaml.safe_load((ALERTING / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["job_name"] == "gridhouse-sql-exporter"
    assert f'up{{job="{job["job_name"]}"}}' in (ALERTING / "battery_alerts.rules.yml").read_text()
    assert prometheus["rule_files"] == ["battery_alerts.rules.yml"]
    # the address the exporter's documented command line listens on
    assert job["static_configs"] == [{"targets": ["127.0.0.1:9237"]}]
    assert "-web.listen-address 127.0.0.1:9237" in (ALERTING / "sql_exporter.yml").read_text()
    # every alert view is polled
    views = {p.stem for p in (PROJECT_ROOT / "dbt_project" / "models" / "alerts").glob("*.sql")}
    queries = {
        q["name"] for q in yaml.safe_load((ALERTING / "sql_exporter.yml").read_text())["jobs"][0]["queries"]
    }
    assert views <= queries


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package prometheus)")
@pytest.mark.parametrize(
    "check",
    [
        ["check", "rules", "battery_alerts.rules.yml"],
        ["check", "config", "prometheus.yml"],
        # each rule fires after its `for:` and not before (the README's table)
        ["test", "rules", "battery_alerts.test.yml"],
    ],
)
def test_alerting_files_pass_promtool(check):
    result = subprocess.run([PROMTOOL, *check], cwd=ALERTING, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(AMTOOL is None, reason="amtool is not installed (Debian package prometheus-alertmanager)")
def test_alertmanager_example_passes_amtool():
    result = subprocess.run(
        [AMTOOL, "check-config", str(ALERTING / "alertmanager.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@contextlib.contextmanager
def _exporter(config: Path, log_path: Path) -> Iterator[int]:
    """prometheus-sql-exporter with `config`, running; yields its port. It polls the views when it starts
    (and then every `interval`, a minute as shipped), so each phase of a test starts one."""
    port = _free_port()
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [EXPORTER, "-config.file", str(config), "-web.listen-address", f"127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)


def _poll(config: Path, log_path: Path, pattern: str) -> str:
    """One poll of the views: the exporter's metrics once they match `pattern` (its first poll done)."""
    with _exporter(config, log_path) as port:
        return _wait_for(port, pattern, present=True)


@pytest.mark.skipif(
    EXPORTER is None,
    reason="prometheus-sql-exporter is not installed (apt-get install prometheus-sql-exporter)",
)
def test_exporter_gauge_follows_a_low_soc_episode(server, fresh_db, tmp_path: Path, monkeypatch):
    from ingest.cli import main

    load_fixture_batteries(fresh_db, FIXTURES)
    # What the README tells the user of their own server to set; then the documented command writes the
    # exporter's config: the shipped file with the alerting role's URL, nothing else changed.
    monkeypatch.setenv("GRIDHOUSE_DSN", fresh_db.url())
    monkeypatch.setenv("GRIDHOUSE_ALERTING_PASSWORD", server.password("alerting"))
    config = tmp_path / "exporter.yml"
    assert main(["alerting", "exporter-config", "--out", str(config)]) == 0
    assert config.stat().st_mode & 0o777 == 0o600
    changed = [
        line
        for line in difflib.unified_diff(
            (ALERTING / "sql_exporter.yml").read_text().splitlines(), config.read_text().splitlines(), n=0
        )
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert [line[0] for line in changed] == ["-", "+"], changed
    assert changed[1].endswith(f"@{fresh_db.host}:{fresh_db.port}/{fresh_db.dbname}?sslmode=disable'"), (
        changed
    )
    log = tmp_path / "exporter.log"

    low = r'^sql_battery_low_soc\{.*asset_id="' + HEERLEN + r'".*col="active".*\} 1$'
    text = _poll(config, log, r'^sql_battery_alerts_open\{alert="battery_no_soc".*\} 1$')
    assert re.search(low, text, re.M) is None

    # The Heerlen battery drops below 20 % after the fixture's last point and stays there.
    add_points(fresh_db, HEERLEN, "StateOfChargePercentage", [(LAST_MS + 4000, 19.0), (LAST_MS + 8000, 8.5)])
    build_fixture_batteries(fresh_db)
    text = _poll(config, log, low)
    line = next(x for x in text.splitlines() if re.search(low, x))
    assert 'since="2025-02-06T14:03:42Z"' in line, line
    assert 'severity="critical"' in line, line
    assert 'user="alerting"' in line, line
    value = next(x for x in text.splitlines() if x.startswith("sql_battery_low_soc{") and 'col="value"' in x)
    assert value.endswith(" 8.5"), value
    alert_id = re.search(r'alert_id="([0-9a-f]+)"', line).group(1)

    # Still low on the next point: the same episode, the same alert_id.
    add_points(fresh_db, HEERLEN, "StateOfChargePercentage", [(LAST_MS + 12000, 12.0)])
    build_fixture_batteries(fresh_db)
    text = _poll(config, log, r'^sql_battery_low_soc\{.*col="value".*\} 12$')
    assert f'alert_id="{alert_id}"' in text

    # Recovery ends the episode: the series is gone from the next poll.
    add_points(fresh_db, HEERLEN, "StateOfChargePercentage", [(LAST_MS + 16000, 35.0)])
    build_fixture_batteries(fresh_db)
    text = _poll(config, log, r'^sql_battery_alerts_open\{alert="battery_low_soc".*\} 0$')
    assert re.search(low, text, re.M) is None
