"""Vendor REST APIs as inputs: the same documents as the folders, fetched with retries, within limits.

The layout is the vendors' (and `gridhouse serve`'s):
    GET /assets?page=N&pageSize=M         battery assets, paged ({"totalCount", "items"})
    GET /telemetry/<deviceId>?since=MS    one device's telemetry after MS (epoch ms)
    GET /meters, /meters/<name>           meter files
    GET /circuits/init.sql, /circuits/power, /circuits/power/<file>
Requests go through dlt's requests client: retries with exponential backoff on connection errors,
timeouts, 429 and 5xx.

Every response is bounded (the settings below; dlt reads them from `.dlt/config.toml` in the folder a
command runs in, and an environment variable overrides it): its body is read in pieces and given up past
`http_max_body_mb`, a wait for the next byte past `request_timeout`, a whole response past
`http_response_seconds`; paging stops at a page that brings no item not seen before, or after
`http_max_pages` pages. A limit hit is one line naming the URL and the setting to raise: for a listing
or an asset page read while planning, the command's error (exit 2); for a document, that input's error
in the load report (the rest loads; the input is tried again on the next load).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import orjson

from ingest.documents import Document, loads, without_bom
from ingest.errors import GridhouseError
from ingest.quarantine import Flawed
from ingest.sources.marks import SERIES_SEPARATOR

PAGE_SIZE = 1000
CHUNK_BYTES = 1 << 20  # the most one read takes from the socket
MB = 1_000_000


@dataclass(frozen=True)
class Setting:
    """A loader setting: its dlt key (`[section] name` in .dlt/config.toml), its default and its unit."""

    key: str
    default: float
    unit: str

    @property
    def env(self) -> str:
        """The environment variable dlt reads for it (it wins over the file)."""
        return self.key.upper().replace(".", "__")

    @property
    def hint(self) -> str:
        section, name = self.key.rsplit(".", 1)
        return f"{self.env} or {name} under [{section}] in .dlt/config.toml"

    def value(self) -> float:
        import dlt

        raw = dlt.config.get(self.key)
        if raw is None or raw == "":
            return self.default
        try:
            number = float(raw)
        except (TypeError, ValueError):
            number = float("nan")
        if not number > 0 or number == float("inf"):
            raise GridhouseError(f"{self.hint} is {raw!r}: give a number above 0 ({self.unit})")
        return number


MAX_BODY_MB = Setting("sources.gridhouse.http_max_body_mb", 256, "MB")
RESPONSE_SECONDS = Setting("sources.gridhouse.http_response_seconds", 600, "seconds")
MAX_PAGES = Setting("sources.gridhouse.http_max_pages", 1000, "pages")
# dlt's own settings for its requests client, under their dlt names
REQUEST_TIMEOUT = Setting("runtime.request_timeout", 10, "seconds")
MAX_ATTEMPTS = Setting("runtime.request_max_attempts", 6, "attempts")
BACKOFF_FACTOR = Setting("runtime.request_backoff_factor", 0.2, "seconds")
MAX_RETRY_DELAY = Setting("runtime.request_max_retry_delay", 30, "seconds")  # also caps a Retry-After
SETTINGS = (
    MAX_BODY_MB,
    RESPONSE_SECONDS,
    MAX_PAGES,
    REQUEST_TIMEOUT,
    MAX_ATTEMPTS,
    BACKOFF_FACTOR,
    MAX_RETRY_DELAY,
)


@dataclass(frozen=True)
class Limits:
    """The settings as they are now (read at each request, so a changed variable applies at once)."""

    max_body_bytes: int
    response_seconds: float
    max_pages: int
    request_timeout: float
    max_attempts: int
    backoff_factor: float
    max_retry_delay: float

    @classmethod
    def read(cls) -> Limits:
        return cls(
            max_body_bytes=int(MAX_BODY_MB.value() * MB),
            response_seconds=RESPONSE_SECONDS.value(),
            max_pages=max(1, int(MAX_PAGES.value())),
            request_timeout=REQUEST_TIMEOUT.value(),
            max_attempts=max(1, int(MAX_ATTEMPTS.value())),
            backoff_factor=BACKOFF_FACTOR.value(),
            max_retry_delay=MAX_RETRY_DELAY.value(),
        )


@lru_cache(maxsize=4)
def _client(timeout: float, attempts: int, backoff: float, max_delay: float) -> Any:
    """dlt's retrying requests client for these settings (kept, so connections are reused)."""
    from dlt.sources.helpers.requests import Client

    return Client(
        request_timeout=(timeout, timeout),  # to connect, and between two bytes of the answer
        request_max_attempts=attempts,
        request_backoff_factor=backoff,
        request_max_retry_delay=max_delay,
    )


def is_url(path: object) -> bool:
    return isinstance(path, str) and path.startswith(("http://", "https://"))


def _shown(url: str, params: dict[str, Any] | None) -> str:
    return f"{url}?{urlencode(params)}" if params else url


def get(url: str, params: dict[str, Any] | None = None, missing_ok: bool = False) -> bytes | None:
    """The body of a GET, after dlt's retries and within the limits; a final failure or a limit hit is
    a GridhouseError naming the URL (and the setting to raise). With `missing_ok`, None for HTTP 404."""
    from dlt.sources.helpers import requests

    limits = Limits.read()
    shown = _shown(url, params)
    started = time.monotonic()
    client = _client(
        limits.request_timeout, limits.max_attempts, limits.backoff_factor, limits.max_retry_delay
    )
    try:
        response = client.get(url, params=params, stream=True)
    except requests.HTTPError as exc:
        if missing_ok and exc.response is not None and exc.response.status_code == 404:
            return None
        raise GridhouseError(f"GET {url} failed after retries: {exc}") from None
    except requests.Timeout:
        raise GridhouseError(
            f"GET {shown} failed after retries: no answer within {limits.request_timeout:g} s, "
            f"{limits.max_attempts} attempts (raise {REQUEST_TIMEOUT.hint} if the API is that slow)"
        ) from None
    except requests.RequestException as exc:
        raise GridhouseError(f"GET {url} failed after retries: {type(exc).__name__}: {exc}") from None
    with response:
        return _body(response, shown, limits, started)


def _body(response: Any, shown: str, limits: Limits, started: float) -> bytes:
    """The body read in pieces of at most CHUNK_BYTES as they arrive, never past the limits."""
    import urllib3

    cap = limits.max_body_bytes
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_big(shown, cap, f"it announces {int(declared):,} bytes")
    deadline = started + limits.response_seconds
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := response.raw.read1(CHUNK_BYTES, decode_content=True):
            size += len(chunk)
            if size > cap:
                raise _too_big(shown, cap, f"{size:,} bytes read and more coming")
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise GridhouseError(
                    f"GET {shown} gave up: the answer took more than {limits.response_seconds:g} s "
                    f"({size:,} bytes by then; raise {RESPONSE_SECONDS.hint} if the API is that slow)"
                )
    except urllib3.exceptions.ReadTimeoutError:
        raise GridhouseError(
            f"GET {shown} gave up: the answer stopped for {limits.request_timeout:g} s after {size:,} bytes "
            f"(raise {REQUEST_TIMEOUT.hint} if the API is that slow)"
        ) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise GridhouseError(
            f"GET {shown} broke off after {size:,} bytes: {type(exc).__name__}: {exc}"
        ) from None
    return b"".join(chunks)


def _too_big(shown: str, cap: int, what: str) -> GridhouseError:
    return GridhouseError(
        f"GET {shown} gave up: the answer is over {cap / MB:g} MB ({what}; raise {MAX_BODY_MB.hint} "
        "if the API really sends that much)"
    )


def get_json(url: str, params: dict[str, Any] | None = None) -> Any:
    body = get(url, params)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise GridhouseError(f"GET {url} did not answer JSON; is it the vendor API's base URL?") from None


@dataclass(frozen=True)
class UrlInput:
    """A document behind a URL. With `since_series`, asks only for points after the oldest series
    mark of that prefix (e.g. one device), from the marks of table `since_table` (the loader's
    memory, ingest/memory.py: `cursors` = {"marks": {table: {series: [hwm_ms, n, checksum]}}})."""

    url: str
    name: str
    since_series: str | None = None
    since_table: str | None = None

    def read(self, cursors: dict[str, Any] | None = None) -> Document:
        params: dict[str, Any] = {}
        if self.since_series and cursors:
            marks = cursors.get("marks", {}).get(self.since_table, {})
            prefix = self.since_series + SERIES_SEPARATOR
            mine = [mark[0] for key, mark in marks.items() if key.startswith(prefix)]
            if mine:
                params["since"] = min(mine)
        return Document(name=self.name, content=get(self.url, params or None))


@dataclass(frozen=True)
class BytesInput:
    """A document already fetched (asset pages are read while planning)."""

    name: str
    content: bytes

    def read(self, cursors: dict[str, Any] | None = None) -> Document:
        return Document(name=self.name, content=self.content)


@dataclass(frozen=True)
class StoppedInput:
    """Where paging stopped before the API said it was done: an input whose read fails with `reason`,
    so the load report names it (the pages before it load)."""

    name: str
    reason: str
    content: bytes = b""  # no items to plan from

    def read(self, cursors: dict[str, Any] | None = None) -> Document:
        raise GridhouseError(self.reason)


def _item_key(item: object) -> object:
    if isinstance(item, dict) and isinstance(item.get("deviceId"), str):
        return item["deviceId"]
    if isinstance(item, Flawed):  # a value orjson cannot write back (NaN, bytes that are not UTF-8)
        return item.raw
    return orjson.dumps(item, option=orjson.OPT_SORT_KEYS)


def asset_pages(base: str) -> list[BytesInput | StoppedInput]:
    """Every page of /assets, fetched now: the device list decides which telemetry to ask for.

    Paging ends when the API's totalCount is reached or a page is empty, and also (the last input is
    then a StoppedInput naming why) at a page that brings no item not seen on an earlier page, or when
    `http_max_pages` pages were read and totalCount says there is more."""
    max_pages = Limits.read().max_pages
    pages: list[BytesInput | StoppedInput] = []
    keys: set[object] = set()
    seen = total = 0
    page = 1
    url = f"{base}/assets"
    while True:
        if page > max_pages:
            pages.append(
                StoppedInput(
                    f"{url}?page={page}",
                    f"GET {url}: stopped paging after {max_pages:,} pages with {len(keys):,} items while "
                    f"totalCount says {total:,} (raise {MAX_PAGES.hint} if the API really has more)",
                )
            )
            return pages
        body = get(url, {"page": page, "pageSize": PAGE_SIZE})
        name = f"{url}?page={page}"
        try:  # read as the files are (tolerant): a flaw in one item costs that item, not the pages after
            doc = loads(without_bom(body))
            if isinstance(doc, Flawed) and not isinstance(doc, dict):
                raise ValueError(doc.problem)
            items, total = doc["items"], int(doc["totalCount"])
            if not isinstance(items, list):
                raise TypeError("items is not a list")
            new = {_item_key(item) for item in items} - keys
        except (KeyError, TypeError, ValueError, OverflowError):
            pages.append(BytesInput(name, body))
            return pages  # the parser quarantines the page; nothing more to page through
        if items and not new:
            pages.append(
                StoppedInput(
                    name,
                    f"GET {name}: stopped paging, the page brings no item not seen on pages 1-{page - 1} "
                    f"while totalCount says {total:,} and {len(keys):,} were seen (the API repeats pages)",
                )
            )
            return pages
        pages.append(BytesInput(name, body))
        keys |= new
        seen += len(items)
        if not items or seen >= total:
            return pages
        page += 1


def listing(url: str) -> list[str]:
    names = get_json(url)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise GridhouseError(f"GET {url} did not answer a JSON list of file names")
    return names
