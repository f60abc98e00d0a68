"""A local stand-in for the vendors' REST APIs, over a simulated tree or the real fixtures.

    GET /assets?page=N&pageSize=M        battery assets, paged: {"totalCount", "items"} (page starts at 1)
    GET /telemetry/<deviceId>?since=MS   battery telemetry; with since, only points with epoch_ms > MS
    GET /meters                          JSON list of meter file names; GET /meters/<name> one file
    GET /circuits/init.sql               circuit metadata
    GET /circuits/power                  JSON list of power files; GET /circuits/power/<file> one file
    GET /devices                         device registry; GET /devices/telemetry[/<file>] list / one day

Faults are injected per request, deterministically: the n-th request for the same URL gets the same
fate for the same seed (HTTP 500, a hang past the client's timeout, or a slow answer).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from ingest.errors import GridhouseError

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class Faults:
    """Fault injection: rates are probabilities per request (0..1)."""

    fail_rate: float = 0.0  # answer HTTP 500
    timeout_rate: float = 0.0  # hang for hang_s, then answer 504 (the client has given up by then)
    slow_ms: int = 0  # delay before answering ...
    slow_rate: float = 1.0  # ... for this share of the requests
    hang_s: float = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("fail_rate", "timeout_rate", "slow_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise GridhouseError(f"serve: --{name.replace('_', '-')} {value} is not a rate; give 0..1")
        if self.fail_rate + self.timeout_rate > 1.0:
            raise GridhouseError("serve: --fail-rate plus --timeout-rate exceeds 1; lower one of them")
        if self.slow_ms < 0 or self.hang_s < 0:
            raise GridhouseError("serve: --slow-ms and the hang time must be 0 or more")


class NotFound(Exception):
    pass


class BadRequest(Exception):
    pass


@dataclass(frozen=True)
class Reply:
    body: bytes
    content_type: str = "application/json"
    status: int = 200


def _uniform(seed: int, key: str, n: int, salt: str) -> float:
    digest = hashlib.blake2b(f"{seed}\0{salt}\0{key}\0{n}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _safe_name(name: str) -> str:
    name = unquote(name)
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise NotFound(name)
    return name


def _listing(folder: Path, suffix: str) -> Reply:
    if not folder.is_dir():
        raise NotFound(str(folder))
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name.endswith(suffix))
    return Reply(orjson.dumps(names))


def _file(path: Path) -> Reply:
    if not path.is_file():
        raise NotFound(str(path))
    kind = {
        ".json": "application/json",
        ".jsonl": "application/x-ndjson",
        ".sql": "application/sql; charset=utf-8",
        ".csv": "text/csv; charset=utf-8",
    }.get(path.suffix, "application/octet-stream")
    return Reply(path.read_bytes(), kind)


def _int_param(query: dict[str, list[str]], name: str, default: int | None) -> int | None:
    values = query.get(name)
    if not values:
        return default
    try:
        return int(values[-1])
    except ValueError:
        raise BadRequest(f"{name}={values[-1]!r} is not an integer") from None


class FleetServer(ThreadingHTTPServer):
    """Serves one data tree (simulator output or the fixtures layout) with injected faults."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path, faults: Faults, port: int = 0, log: bool = False) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise GridhouseError(
                f"serve: {root} is not a folder; give a simulator output or the fixtures folder"
            )
        self.faults = faults
        self.log = log
        self.requests: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._assets: list[Any] | None = None
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fate(self, target: str) -> tuple[str, bool]:
        """("ok" | "fail" | "timeout", slow?) for this request: the n-th request of a URL always gets
        the same fate for the same seed, whatever other URLs were asked in between."""
        with self._lock:
            n = self.requests[target]
            self.requests[target] += 1
        f = self.faults
        u = _uniform(f.seed, target, n, "fault")
        fate = "fail" if u < f.fail_rate else "timeout" if u < f.fail_rate + f.timeout_rate else "ok"
        slow = f.slow_ms > 0 and _uniform(f.seed, target, n, "slow") < f.slow_rate
        with self._lock:
            self.injected[fate] += 1
            if slow:
                self.injected["slow"] += 1
        return fate, slow

    def assets(self) -> list[Any]:
        if self._assets is None:
            path = self.root / "batteries" / "assets" / "assets.json"
            if not path.is_file():
                raise NotFound(str(path))
            body = orjson.loads(path.read_bytes())
            self._assets = list(body.get("items", [])) if isinstance(body, dict) else []
        return self._assets

    def route(self, path: str, query: dict[str, list[str]]) -> Reply:
        parts = [p for p in path.split("/") if p]
        root = self.root
        if parts == ["assets"]:
            items = self.assets()
            page = _int_param(query, "page", 1)
            size = _int_param(query, "pageSize", DEFAULT_PAGE_SIZE)
            if page is None or size is None or page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
                raise BadRequest(f"page must be >= 1 and pageSize 1..{MAX_PAGE_SIZE}")
            chunk = items[(page - 1) * size : page * size]
            return Reply(orjson.dumps({"totalCount": len(items), "items": chunk}))
        if len(parts) == 2 and parts[0] == "telemetry":
            reply = _file(root / "batteries" / "telemetry" / f"{_safe_name(parts[1])}.json")
            since = _int_param(query, "since", None)
            return reply if since is None else Reply(_since(reply.body, since))
        if parts == ["meters"]:
            return _listing(root / "meters", ".json")
        if len(parts) == 2 and parts[0] == "meters":
            return _file(root / "meters" / _safe_name(parts[1]))
        if parts == ["circuits", "init.sql"]:
            return _file(root / "circuits" / "init.sql")
        power = root / "circuits" / "power"
        power = power if power.is_dir() else root / "circuits"  # the fixtures keep the JSON beside init.sql
        if parts == ["circuits", "power"]:
            return _listing(power, ".json")
        if len(parts) == 3 and parts[:2] == ["circuits", "power"]:
            return _file(power / _safe_name(parts[2]))
        if parts == ["devices"]:
            return _file(root / "devices" / "devices.json")
        if parts == ["devices", "telemetry"]:
            return _listing(root / "devices" / "telemetry", ".jsonl")
        if len(parts) == 3 and parts[:2] == ["devices", "telemetry"]:
            return _file(root / "devices" / "telemetry" / _safe_name(parts[2]))
        raise NotFound(path)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def _since(body: bytes, since: int) -> bytes:
    """The telemetry document with only the points after `since` (ms). A document that is not JSON is
    passed through unchanged (the vendor serves what it has); points without a numeric time are dropped."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(doc, dict) or not isinstance(doc.get("series"), list):
        return body
    for series in doc["series"]:
        if isinstance(series, dict) and isinstance(series.get("data"), list):
            series["data"] = [
                p
                for p in series["data"]
                if isinstance(p, list) and p and type(p[0]) in (int, float) and p[0] > since
            ]
    return orjson.dumps(doc)


class Handler(BaseHTTPRequestHandler):
    server: FleetServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        split = urlsplit(self.path)
        fate, slow = self.server.fate(self.path)
        faults = self.server.faults
        if slow:
            time.sleep(faults.slow_ms / 1000.0)
        if fate == "timeout":
            time.sleep(faults.hang_s)
            self._send(Reply(b'{"error":"injected timeout"}', status=504))
            return
        if fate == "fail":
            self._send(Reply(b'{"error":"injected failure"}', status=500))
            return
        try:
            reply = self.server.route(split.path, parse_qs(split.query))
        except NotFound:
            reply = Reply(orjson.dumps({"error": f"not found: {split.path}"}), status=404)
        except BadRequest as exc:
            reply = Reply(orjson.dumps({"error": str(exc)}), status=400)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout it was meant to hit)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        if self.server.log:
            super().log_message(format, *args)


def make_server(root: Path, port: int = 0, log: bool = False, **opts: Any) -> FleetServer:
    """A server bound to 127.0.0.1:port (0 = any free port); opts are the Faults fields."""
    return FleetServer(Path(root), Faults(**opts), port=port, log=log)


def serve_in_thread(root: Path, port: int = 0, **opts: Any) -> tuple[FleetServer, str]:
    """Start a server in a daemon thread: (server, base_url). Stop it with server.stop()."""
    server = make_server(root, port=port, **opts)
    thread = threading.Thread(target=server.serve_forever, name="gridhouse-serve", daemon=True)
    thread.start()
    return server, server.base_url
