"""Endless APIs are bounded: a body that never ends, pages that never end, answers that never come.

A hostile HTTP server on 127.0.0.1 (a thread of this test) serves each kind; the loader stops within its
limit (ingest/remote.py, .dlt/config.toml), in bounded requests and time, with one line naming the URL and
the setting to raise.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from ingest import remote
from ingest.errors import GridhouseError

BLOCK = b"[" + b"1," * 32_767 + b"1]"  # 64 KiB of JSON-ish bytes


class Hostile(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping does not hold the test up

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()  # body bytes written per path
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Hostile
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        with self.server.lock:
            self.server.requests[split.path] += 1
        name = "serve_" + split.path.strip("/").replace("/", "_").replace("-", "_").replace(".", "_")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up, as it should
            getattr(self, name, self.not_found)(query)

    def not_found(self, query: dict) -> None:  # e.g. <base>/meters/tenants.csv: this API has none
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        with self.server.lock:
            self.server.sent[urlsplit(self.path).path] += len(data)

    def _json(self, doc: object) -> None:
        body = orjson.dumps(doc)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._write(body)

    def serve_endless(self, query: dict) -> None:
        """No Content-Length, no end: the body runs until the client closes."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        while True:
            self._write(BLOCK)

    serve_endless_meters = serve_endless  # a meter listing (GET <base>/meters) without end

    def serve_endless_chunked(self, query: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            self._write(b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK))

    def serve_announced(self, query: dict) -> None:
        """Announces 10 GB: refused from the header, before the body is read."""
        self.send_response(200)
        self.send_header("Content-Length", str(10**10))
        self.end_headers()
        while True:
            self._write(BLOCK)

    def serve_sleepy(self, query: dict) -> None:
        """Never answers in time: sleeps past any timeout the test sets."""
        time.sleep(5)
        self._json({"late": True})

    def serve_trickle(self, query: dict) -> None:
        """Answers at once, then a byte every 50 ms: never silent long enough for a read timeout."""
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        for _ in range(200):
            self._write(b" ")
            time.sleep(0.05)

    def serve_repeats_assets(self, query: dict) -> None:
        """Pages forever: the same two items on every page, totalCount never reached."""
        self._json({"totalCount": 10**9, "items": [{"deviceId": "a"}, {"deviceId": "b"}]})

    def serve_forever_assets(self, query: dict) -> None:
        """Pages forever: new items on every page, totalCount never shrinks."""
        page = int(query.get("page", ["1"])[0])
        self._json({"totalCount": 10**9, "items": [{"deviceId": f"d{page}-{i}"} for i in range(3)]})

    def serve_honest_assets(self, query: dict) -> None:
        page = int(query.get("page", ["1"])[0])
        items = [{"deviceId": f"d{i}"} for i in range(5)][(page - 1) * 2 : page * 2]
        self._json({"totalCount": 5, "items": items})

    serve_vendor_assets = serve_repeats_assets  # a battery API: its pages repeat, ...
    serve_vendor_telemetry_a = serve_endless  # ... device a's telemetry never ends, ...

    def serve_vendor_telemetry_b(self, query: dict) -> None:  # ... device b's is fine
        self._json(
            {"series": [{"name": "BatteryPowerW", "data": [[1_700_000_000_000 + i, i] for i in range(7)]}]}
        )

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.05")


def _fails(url: str, match: str) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(GridhouseError, match=match) as caught:
        remote.get(url)
    message = str(caught.value)
    assert "\n" not in message and url in message
    return message, time.monotonic() - started


@pytest.mark.parametrize("path", ["/endless", "/endless-chunked"])
def test_a_body_without_end_stops_at_the_size_cap(hostile, monkeypatch, path):
    monkeypatch.setenv("SOURCES__GRIDHOUSE__HTTP_MAX_BODY_MB", "2")
    message, seconds = _fails(hostile.base_url + path, "over 2 MB")
    assert "SOURCES__GRIDHOUSE__HTTP_MAX_BODY_MB" in message and "http_max_body_mb" in message
    assert seconds < 10
    time.sleep(0.2)  # the handler notices the closed socket
    # what the server got out: the cap plus what the sockets buffer, nothing like a runaway
    assert hostile.sent[path] < 2 * remote.MB + 16 * remote.MB
    assert hostile.requests[path] == 1  # a limit is not retried


def test_an_announced_length_over_the_cap_is_refused_before_reading(hostile, monkeypatch):
    monkeypatch.setenv("SOURCES__GRIDHOUSE__HTTP_MAX_BODY_MB", "1")
    message, seconds = _fails(hostile.base_url + "/announced", "announces 10,000,000,000 bytes")
    assert seconds < 5


def test_an_answer_that_never_comes_times_out_after_the_retries(hostile, monkeypatch):
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "0.3")
    message, seconds = _fails(hostile.base_url + "/sleepy", "no answer within 0.3 s, 2 attempts")
    assert "RUNTIME__REQUEST_TIMEOUT" in message
    assert hostile.requests["/sleepy"] == 2
    assert seconds < 3  # 2 x 0.3 s and a short backoff, not the 2 x 5 s the server would take


def test_a_trickling_answer_stops_at_the_response_deadline(hostile, monkeypatch):
    monkeypatch.setenv("SOURCES__GRIDHOUSE__HTTP_RESPONSE_SECONDS", "0.5")
    message, seconds = _fails(hostile.base_url + "/trickle", "took more than 0.5 s")
    assert "SOURCES__GRIDHOUSE__HTTP_RESPONSE_SECONDS" in message
    assert seconds < 2  # the deadline and one read, not the server's 10 s


def test_a_setting_that_is_not_a_number_is_one_line(hostile, monkeypatch):
    monkeypatch.setenv("SOURCES__GRIDHOUSE__HTTP_MAX_BODY_MB", "lots")
    with pytest.raises(GridhouseError, match=r"SOURCES__GRIDHOUSE__HTTP_MAX_BODY_MB .* is 'lots'"):
        remote.get(hostile.base_url + "/honest/assets")


def test_pages_that_repeat_stop_at_the_first_page_with_nothing_new(hostile):
    pages = remote.asset_pages(hostile.base_url + "/repeats")
    assert hostile.requests["/repeats/assets"] == 2
    assert [type(p).__name__ for p in pages] == ["BytesInput", "StoppedInput"]
    with pytest.raises(GridhouseError, match="page=2: stopped paging, the page brings no item not seen"):
        pages[-1].read()
    assert pages[-1].content == b""  # nothing to plan from


def test_pages_without_end_stop_at_the_page_cap(hostile, monkeypatch):
    monkeypatch.setenv("SOURCES__GRIDHOUSE__HTTP_MAX_PAGES", "25")
    started = time.monotonic()
    pages = remote.asset_pages(hostile.base_url + "/forever")
    assert hostile.requests["/forever/assets"] == 25
    assert len(pages) == 26 and all(isinstance(p, remote.BytesInput) for p in pages[:25])
    with pytest.raises(GridhouseError, match="stopped paging after 25 pages with 75 items") as caught:
        pages[-1].read()
    assert "SOURCES__GRIDHOUSE__HTTP_MAX_PAGES" in str(caught.value)
    assert time.monotonic() - started < 10


def test_honest_pages_end_at_total_count(hostile):
    pages = remote.asset_pages(hostile.base_url + "/honest")
    assert len(pages) == 3 and all(isinstance(p, remote.BytesInput) for p in pages)
    assert hostile.requests["/honest/assets"] == 3


def test_the_command_prints_one_line_and_exits_2_when_a_listing_never_ends(hostile):
    env = {**os.environ, "SOURCES__GRIDHOUSE__HTTP_MAX_BODY_MB": "1", "COLUMNS": "400"}
    done = subprocess.run(  # the listing, GET <base>/meters, never ends
        [sys.executable, "-m", "ingest.cli", "load", "meters", hostile.base_url + "/endless"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "gridhouse: error: GET " in lines[0], lines
    assert "over 1 MB" in lines[0] and "SOURCES__GRIDHOUSE__HTTP_MAX_BODY_MB" in lines[0]


def test_a_hostile_battery_api_loads_what_it_can_and_names_the_rest(hostile, monkeypatch, fresh_db):
    from conftest import scalar

    from ingest.pipeline import load

    monkeypatch.setenv("SOURCES__GRIDHOUSE__HTTP_MAX_BODY_MB", "1")
    base = hostile.base_url + "/vendor"
    report = load("batteries", base, fresh_db)
    errors = {f.file: f.error for f in report.failed}
    assert set(errors) == {f"{base}/assets?page=2", f"{base}/telemetry/a.json"}
    assert "stopped paging" in errors[f"{base}/assets?page=2"]
    assert "over 1 MB" in errors[f"{base}/telemetry/a.json"]
    assert scalar(fresh_db, "select count(*) from raw_batteries.assets") == 2
    assert scalar(fresh_db, "select count(*) from raw_batteries.telemetry") == 7
    assert report.read == report.loaded + report.quarantined == 2 + 7


def test_the_memory_bench_writes_the_vendor_format_and_reads_a_peak(tmp_path):
    """bench/memory.py's parts, small: a telemetry file near the size asked for, and a peak RSS read."""
    from ingest.db import PROJECT_ROOT
    from ingest.streaming import open_telemetry

    sys.path.insert(0, str(PROJECT_ROOT))  # bench/ is a folder of scripts beside the packages
    from bench import memory

    points, size = memory.write_tree(tmp_path / "tree", 0.3)
    assert 0.25e6 < size < 0.35e6
    path = next((tmp_path / "tree" / "telemetry").iterdir())
    doc = orjson.loads(path.read_bytes())
    assert [s["name"] for s in doc["series"]] == list(memory.SERIES)
    assert sum(len(s["data"]) for s in doc["series"]) == points
    with open_telemetry(path) as stream:
        assert sum(a.count for a in stream.arrays.values()) == points
    peak, seconds, code, output = memory.peak_rss(["--help"], dict(os.environ))
    assert code == 0 and "load" in output
    assert 10e6 < peak < 1e9
