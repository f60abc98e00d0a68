"""Vendor REST APIs as inputs: the same documents as the folders, fetched with retries.

The layout is the vendors' (and `gridhouse serve`'s):
    GET /assets?page=N&pageSize=M         battery assets, paged ({"totalCount", "items"})
    GET /telemetry/<deviceId>?since=MS    one device's telemetry after MS (epoch ms)
    GET /meters, /meters/<name>           meter files
    GET /circuits/init.sql, /circuits/power, /circuits/power/<file>
Requests go through dlt's requests helper: retries with exponential backoff on connection errors,
timeouts and 5xx (tune with RUNTIME__REQUEST_MAX_ATTEMPTS, RUNTIME__REQUEST_TIMEOUT,
RUNTIME__REQUEST_BACKOFF_FACTOR).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import orjson

from ingest.documents import Document
from ingest.errors import GridhouseError
from ingest.sources.marks import SERIES_SEPARATOR

os.environ.setdefault("RUNTIME__REQUEST_TIMEOUT", "10")
os.environ.setdefault("RUNTIME__REQUEST_MAX_ATTEMPTS", "6")
os.environ.setdefault("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.2")

PAGE_SIZE = 1000


def is_url(path: object) -> bool:
    return isinstance(path, str) and path.startswith(("http://", "https://"))


def get(url: str, params: dict[str, Any] | None = None) -> bytes:
    """The body of a GET, after dlt's retries; a final failure is a GridhouseError naming the URL."""
    from dlt.sources.helpers import requests

    try:
        response = requests.get(url, params=params)
        response.raise_for_status()
    except requests.HTTPError as exc:
        raise GridhouseError(f"GET {url} failed after retries: {exc}") from None
    except requests.RequestException as exc:
        raise GridhouseError(f"GET {url} failed after retries: {type(exc).__name__}: {exc}") from None
    return response.content


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


def asset_pages(base: str) -> list[BytesInput]:
    """Every page of /assets, fetched now: the device list decides which telemetry to ask for."""
    pages: list[BytesInput] = []
    seen = 0
    page = 1
    while True:
        url = f"{base}/assets"
        body = get(url, {"page": page, "pageSize": PAGE_SIZE})
        pages.append(BytesInput(f"{url}?page={page}", body))
        try:
            doc = orjson.loads(body)
            items, total = doc["items"], int(doc["totalCount"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return pages  # the parser quarantines the page; nothing more to page through
        seen += len(items)
        if not items or seen >= total:
            return pages
        page += 1


def listing(url: str) -> list[str]:
    names = get_json(url)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise GridhouseError(f"GET {url} did not answer a JSON list of file names")
    return names
