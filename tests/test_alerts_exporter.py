"""The shipped poller: prometheus-sql-exporter with deploy/alerting/sql_exporter.yml, as role `alerting`,
follows an injected low-SoC episode (gauge appears with the episode's start, then goes away on recovery).
Skips where the Debian package is absent (CI installs it); promtool checks the rule file where present."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import FIXTURES, requires_fixtures
from test_battery_support import HEERLEN, add_points, build_fixture_batteries, load_fixture_batteries

from ingest.db import PROJECT_ROOT

ALERTING = PROJECT_ROOT / "deploy" / "alerting"
EXPORTER = shutil.which("prometheus-sql-exporter")
PROMTOOL = shutil.which("promtool")
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


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package prometheus)")
def test_rule_file_passes_promtool():
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(ALERTING / "battery_alerts.rules.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    EXPORTER is None,
    reason="prometheus-sql-exporter is not installed (apt-get install prometheus-sql-exporter)",
)
def test_exporter_gauge_follows_a_low_soc_episode(server, fresh_db, tmp_path: Path):
    from urllib.parse import quote

    load_fixture_batteries(fresh_db, FIXTURES)
    config = (ALERTING / "sql_exporter.yml").read_text()
    password = quote(server.password("alerting"), safe="")
    dsn = f"postgres://alerting:{password}@{fresh_db.host}:{fresh_db.port}/{fresh_db.dbname}?sslmode=disable"
    config = config.replace("postgres://alerting@127.0.0.1:5432/gridhouse?sslmode=disable", dsn)
    config = config.replace("interval: 1m", "interval: 1s")
    assert dsn in config
    (tmp_path / "exporter.yml").write_text(config)
    port = _free_port()
    log = (tmp_path / "exporter.log").open("w")
    process = subprocess.Popen(
        [
            EXPORTER,
            "-config.file",
            str(tmp_path / "exporter.yml"),
            "-web.listen-address",
            f"127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        low = r'^sql_battery_low_soc\{.*asset_id="' + HEERLEN + r'".*col="active".*\} 1$'
        text = _wait_for(port, r'^sql_battery_alerts_open\{alert="battery_no_soc".*\} 1$', present=True)
        assert re.search(low, text, re.M) is None

        # The Heerlen battery drops below 20 % after the fixture's last point and stays there.
        add_points(
            fresh_db, HEERLEN, "StateOfChargePercentage", [(LAST_MS + 4000, 19.0), (LAST_MS + 8000, 8.5)]
        )
        build_fixture_batteries(fresh_db)
        text = _wait_for(port, low, present=True)
        line = next(x for x in text.splitlines() if re.search(low, x))
        assert 'since="2025-02-06T14:03:42Z"' in line, line
        assert 'severity="critical"' in line, line
        value = next(
            x for x in text.splitlines() if x.startswith("sql_battery_low_soc{") and 'col="value"' in x
        )
        assert value.endswith(" 8.5"), value
        alert_id = re.search(r'alert_id="([0-9a-f]+)"', line).group(1)

        # Still low on the next point: the same episode, the same alert_id.
        add_points(fresh_db, HEERLEN, "StateOfChargePercentage", [(LAST_MS + 12000, 12.0)])
        build_fixture_batteries(fresh_db)
        text = _wait_for(port, r'^sql_battery_low_soc\{.*col="value".*\} 12$', present=True)
        assert f'alert_id="{alert_id}"' in text

        # Recovery ends the episode: the series disappears.
        add_points(fresh_db, HEERLEN, "StateOfChargePercentage", [(LAST_MS + 16000, 35.0)])
        build_fixture_batteries(fresh_db)
        _wait_for(port, low, present=False)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
