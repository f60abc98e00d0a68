"""The loaders read the vendor REST API as well as folders: paging, since=, retries on 500s."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, requires_fixtures, scalar

from ingest.pipeline import load

pytestmark = requires_fixtures
server_module = pytest.importorskip("simulator.server")


@pytest.fixture
def api():
    server, base_url = server_module.serve_in_thread(FIXTURES, fail_rate=0.5, seed=4)
    yield server, base_url
    server.stop()


def test_batteries_from_the_api_match_the_folder(fresh_db, api):
    server, base_url = api
    report = load("batteries", base_url, fresh_db)
    assert not report.failed
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry") == 375
    assert scalar(fresh_db, "select count(*) from raw_batteries.assets") == 3
    assert server.injected["fail"] > 0  # the 500s happened and the retries got through

    asked = sum(n for url, n in server.requests.items() if "/telemetry/" in url)
    again = load("batteries", base_url, fresh_db)  # asks only for points after the newest loaded
    assert again.loaded == 0 and not again.failed
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry") == 375
    since_urls = [url for url in server.requests if "since=" in url]
    assert len(since_urls) == 3 and asked > 0


def test_meters_and_circuits_from_the_api(fresh_db, api):
    _, base_url = api
    meters = load("meters", base_url, fresh_db)
    circuits = load("circuits", base_url, fresh_db)
    assert not meters.failed and not circuits.failed
    assert scalar(fresh_db, "select count(*) from raw_meters.readings") == 2 * 2688
    assert scalar(fresh_db, "select count(*) from raw_circuits.power") == 2160
    assert scalar(fresh_db, "select count(*) from raw_circuits.circuits") == 36


def test_an_api_that_keeps_failing_is_reported_not_fatal(fresh_db):
    server, base_url = server_module.serve_in_thread(FIXTURES, fail_rate=1.0, seed=1)
    try:
        with pytest.raises(Exception, match="failed after retries"):
            load("meters", base_url, fresh_db)  # even the listing fails: nothing to plan
    finally:
        server.stop()


def test_one_load_from_the_api_asks_for_the_asset_listing_once(fresh_db, monkeypatch):
    from ingest import cli

    server, base_url = server_module.serve_in_thread(FIXTURES, seed=2)
    try:
        monkeypatch.setenv("GRIDHOUSE_DSN", fresh_db.url())
        assert cli.main(["load", "batteries", base_url]) == 0
        listing = {url: n for url, n in server.requests.items() if "/assets" in url}
    finally:
        server.stop()
    # the CLI checks the input, shows progress over the files and loads them: one plan, one listing
    assert listing and set(listing.values()) == {1}, listing
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry") == 375
