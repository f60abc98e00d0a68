"""Big telemetry documents read as a stream: the points of each `data` array in chunks, never the whole tree.

A telemetry document, {"series": [{"name": ..., "data": [[epoch_ms, value], ...]}, ...]}, parsed whole by
orjson is a Python list per point (about 150 bytes a point: 1.4 GB for a 200 MB file, 9 M points). Read
here, it costs one chunk's points at a time (`chunk_bytes` of JSON, about 30 MB of objects for 4 MB),
whatever the file's size, in two passes over the bytes (a file is mapped, and the pages passed are let go):

1. `open_telemetry()` reads the document's skeleton, everything but the insides of the arrays at
   `$.series[i].data`, token by token, and each such array as pieces of whole points: a piece ends at an
   element boundary, found by parsing `[` + piece + `]` with orjson (a cut inside a point or a string
   never parses). The skeleton, with `[]` for each array read so, is parsed by orjson: names, other keys
   and the shape come from it exactly as from the whole document. Each array's point count and piece
   offsets are kept; its points are not.
2. `StreamedTelemetry.chunks(i)` parses the pieces of series i again, one at a time: (index of the
   chunk's first point in the series, its points as orjson gives them). `columns()` turns a chunk of
   well-formed points into numpy columns; `StreamedTelemetry.locate()` finds the bytes of the points a
   caller quarantined, in their pieces only.

JSON semantics are orjson's throughout: a piece is parsed by the same parser as the whole document would
be, so the points and the skeleton are what `orjson.loads(whole)` gives. Where that could differ or the
stream cannot tell, `open_telemetry()` raises NotStreamable before any point is handed out, and the
caller parses the document whole (its strict and tolerant paths, quarantine): a document that is not
valid JSON anywhere, a duplicate key in the skeleton (which one orjson keeps is not the stream's to
decide), a top level that is not an object, a single point larger than `max_piece_bytes`.
"""

from __future__ import annotations

import bisect
import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ingest.sources.base import gc_paused

CHUNK_BYTES = 4 << 20  # JSON per piece: about 180 k compact points, 30 MB of Python objects while parsed
MAX_PIECE_BYTES = 64 << 20  # a point (or a run of points with no cut orjson accepts) larger than this
CUT_TRIES = 8  # element boundaries tried per piece before the window grows

_WS = b" \t\n\r"
# One token of the skeleton: a string (unrolled: fast on long ones), a structural character, or a run of
# anything else (numbers, literals, junk: orjson judges them when it parses the skeleton).
_TOKEN = re.compile(rb'[ \t\n\r]*(?:("[^"\\]*(?:\\.[^"\\]*)*")|([{}\[\]:,])|([^ \t\n\r{}\[\]:,"]+))', re.S)


class NotStreamable(Exception):
    """The document cannot be read as a stream with the same result; parse it whole."""


@dataclass(frozen=True)
class DataArray:
    """One streamed `data` array: its series' index, point count and pieces (offsets in the bytes)."""

    series: int
    count: int
    pieces: tuple[tuple[int, int], ...]
    firsts: tuple[int, ...] = ()  # the index of each piece's first point


@dataclass
class StreamedTelemetry:
    """A telemetry document read by pass 1: its skeleton and where each series' points are."""

    skeleton: Any  # the parsed document, with [] for each streamed data array
    arrays: dict[int, DataArray]  # series index -> its streamed data array
    _buf: bytes | mmap.mmap = field(repr=False)
    _map: mmap.mmap | None = field(default=None, repr=False)
    _skeleton_text: bytes = field(default=b"", repr=False)

    def count(self, series: int) -> int | None:
        """Points in series `series`' data array, or None when it was not streamed (not a list)."""
        array = self.arrays.get(series)
        return None if array is None else array.count

    def chunks(self, series: int) -> Iterator[tuple[int, list[Any]]]:
        """(index of the first point, the points) per piece of series `series`, in document order."""
        array = self.arrays.get(series)
        if array is None:
            return
        first = 0
        for start, end in array.pieces:
            with gc_paused():
                points = orjson.loads(b"[" + self._buf[start:end] + b"]")
            _let_go(self._map, end)
            yield first, points
            first += len(points)

    def locate(self, paths: list[tuple[str | int, ...]]) -> dict[tuple[str | int, ...], bytes]:
        """The exact bytes of the values at `paths`, as ingest.documents.locate() finds them in the whole
        document: a point of a streamed array (`("series", i, "data", p)`) in its piece, anything else
        in the skeleton (whose bytes are the document's but for the streamed arrays)."""
        from ingest.documents import locate

        found: dict[tuple[str | int, ...], bytes] = {}
        elsewhere = []
        by_piece: dict[tuple[int, int], list[tuple[int, tuple[str | int, ...]]]] = {}
        for path in paths:
            array = self.arrays.get(path[1]) if len(path) == 4 and path[:1] == ("series",) else None
            if array is None or path[2] != "data" or not isinstance(path[3], int) or path[3] >= array.count:
                elsewhere.append(path)
                continue
            k = bisect.bisect_right(array.firsts, path[3]) - 1
            by_piece.setdefault((array.series, k), []).append((path[3] - array.firsts[k], path))
        for (series, k), wanted in by_piece.items():
            array = self.arrays[series]
            start, end = array.pieces[k]
            inside = locate(b"[" + self._buf[start:end] + b"]", [(j,) for j, _ in wanted])
            found.update({path: inside[(j,)] for j, path in wanted if (j,) in inside})
        if elsewhere:
            found.update(locate(self._skeleton_text, elsewhere))
        return found

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    def __enter__(self) -> StreamedTelemetry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_telemetry(
    source: Path | bytes, chunk_bytes: int = CHUNK_BYTES, max_piece_bytes: int = MAX_PIECE_BYTES
) -> StreamedTelemetry:
    """Pass 1 over a telemetry document (a file, mapped, or bytes in memory); NotStreamable when the
    stream cannot give what parsing it whole gives. Close the result (or use it in a `with`)."""
    mapped: mmap.mmap | None = None
    if isinstance(source, Path):
        with source.open("rb") as f:
            try:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:  # an empty file cannot be mapped
                raise NotStreamable("empty document") from None
        buf: bytes | mmap.mmap = mapped
    else:
        buf = source
    try:
        with gc_paused():
            text, skeleton, arrays = _Scanner(buf, mapped, chunk_bytes, max_piece_bytes).scan()
    except BaseException:
        if mapped is not None:
            mapped.close()
        raise
    return StreamedTelemetry(skeleton, arrays, buf, mapped, text)


def columns(points: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(epochs as int64, values as float64) when every point is [int, int or float] and each epoch fits
    in 64 bits; None otherwise (check those points one by one). bool is not a number here."""
    if not points:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    try:
        epoch_col, value_col = zip(*points, strict=True)
    except (TypeError, ValueError):
        return None
    # (a point that is an object or a string of two zips too, over its keys or characters: str, refused)
    if set(map(type, epoch_col)) != {int} or not set(map(type, value_col)) <= {int, float}:
        return None
    try:
        epochs = np.fromiter(epoch_col, np.int64, len(epoch_col))
    except OverflowError:
        return None
    return epochs, np.fromiter(value_col, np.float64, len(value_col))


def _let_go(mapped: mmap.mmap | None, upto: int) -> None:
    """Drop the mapped pages before `upto` from this process's memory (the page cache keeps them)."""
    if mapped is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    length = upto - upto % mmap.PAGESIZE
    if length > 0:
        mapped.madvise(mmap.MADV_DONTNEED, 0, length)


@dataclass
class _Frame:
    kind: str  # "obj" or "arr"
    role: str = ""  # "top", "series" (the list), "item" (a series object), "" (anything else)
    keys: set[str] = field(default_factory=set)
    key: str | None = None
    index: int = -1  # of the current element, in an array
    series: int = -1  # the series index, for an "item"


class _Scanner:
    def __init__(self, buf: bytes | mmap.mmap, mapped: mmap.mmap | None, chunk: int, max_piece: int) -> None:
        self.buf, self.mapped, self.chunk, self.max_piece = buf, mapped, chunk, max_piece
        self.n = len(buf)

    def scan(self) -> tuple[bytes, Any, dict[int, DataArray]]:
        buf, n = self.buf, self.n
        skeleton: list[bytes] = []
        copied = 0  # the skeleton holds buf[:copied] but the streamed arrays' insides
        arrays: dict[int, DataArray] = {}
        stack: list[_Frame] = []
        pos = 0
        expect_key = False
        while True:
            match = _TOKEN.match(buf, pos)
            if match is None:
                if buf[pos:].strip(_WS):
                    raise NotStreamable(f"unexpected byte at offset {pos}")
                break
            string, mark, scalar = match.groups()
            start = match.start(1) if string else match.start(2) if mark else match.start(3)
            pos = match.end()
            top = stack[-1] if stack else None
            if string is not None and expect_key:
                assert top is not None
                key = _text(string)
                if key in top.keys:
                    raise NotStreamable(f"duplicate key {key!r} at offset {start}")
                top.keys.add(key)
                top.key = key
                expect_key = False
                continue
            if mark in (b":", b","):
                if mark == b"," and top is not None and top.kind == "obj":
                    expect_key = True
                continue
            if mark in (b"}", b"]"):
                if not stack:
                    raise NotStreamable(f"unbalanced {mark.decode()} at offset {start}")
                stack.pop()
                expect_key = False
                continue
            # a value starts: where is it?
            role, series = "", -1
            if top is None:
                if mark != b"{" or skeleton or copied:
                    raise NotStreamable("the document is not one JSON object")
                role = "top"
            elif top.kind == "arr":
                top.index += 1
                if top.role == "series":
                    role, series = "item", top.index
            elif top.role == "top" and top.key == "series" and mark == b"[":
                role = "series"
            elif top.role == "item" and top.key == "data" and mark == b"[":
                end, array = self.data_array(pos, top.series)
                skeleton.append(buf[copied:start] + b"[]")
                copied = pos = end
                arrays[top.series] = array
                continue
            if mark == b"{":
                stack.append(_Frame("obj", role if role in ("top", "item") else "", series=series))
                expect_key = True
            elif mark == b"[":
                stack.append(_Frame("arr", "series" if role == "series" else ""))
            # a string or a scalar value: nothing to track
        if stack:
            raise NotStreamable("the document ends inside an object or array")
        skeleton.append(buf[copied:n])
        text = b"".join(skeleton)
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise NotStreamable(f"not valid JSON outside the data arrays: {exc}") from None
        return text, parsed, arrays

    def data_array(self, start: int, series: int) -> tuple[int, DataArray]:
        """The data array whose `[` ends at `start`: (offset after its `]`, its pieces and count)."""
        buf, n = self.buf, self.n
        pieces: list[tuple[int, int]] = []
        firsts: list[int] = []
        count = 0
        pos = start
        size = self.chunk
        while True:
            end = min(n, pos + size)
            window = bytes(buf[pos:end])
            cut = self._cut(window) if end < n else None
            if cut is not None:  # whole points up to a comma between two of them
                length, k = cut
                pieces.append((pos, pos + length))
                firsts.append(count)
                count += k
                pos += length + 1
                size = self.chunk
                _let_go(self.mapped, pos)
                continue
            closed = self._close(window)
            if closed is not None:  # the array ends in this window
                length, k, after = closed
                if k:
                    pieces.append((pos, pos + length))
                    firsts.append(count)
                count += k
                _let_go(self.mapped, pos + after)
                return pos + after, DataArray(series, count, tuple(pieces), tuple(firsts))
            if end >= n or size >= self.max_piece:
                raise NotStreamable(
                    f"series[{series}].data: no whole points in {end - pos:,} bytes from offset {pos} "
                    "(not valid JSON, or a point larger than the stream reads)"
                )
            size *= 2  # one point (or a string) longer than the window

    @staticmethod
    def _cut(window: bytes) -> tuple[int, int] | None:
        """(length of the points before a comma between two points, their count), or None."""
        tried = 0
        limit = len(window)
        while tried < CUT_TRIES:
            # a point that is a pair ends with `]`: try `],` first, then any comma
            close = window.rfind(b"],", 0, limit)
            comma = close + 1 if close >= 0 else window.rfind(b",", 0, limit)
            if comma <= 0:
                return None
            try:
                points = orjson.loads(b"[" + window[:comma] + b"]")
            except orjson.JSONDecodeError:
                tried += 1
                limit = comma
                continue
            if not isinstance(points, list):
                return None
            return comma, len(points)
        return None

    @staticmethod
    def _close(window: bytes) -> tuple[int, int, int] | None:
        """When the array ends in `window`: (length of its points' text, their count, offset after `]`)."""
        probe = b"[" + window
        try:
            points = orjson.loads(probe)
            upto = len(probe)
        except orjson.JSONDecodeError as exc:
            upto = _byte_offset(probe, exc.pos)
            if upto >= len(probe):
                return None  # the window ends first (or the rest is not JSON)
            try:
                points = orjson.loads(probe[:upto])
            except orjson.JSONDecodeError:
                return None
        if not isinstance(points, list):
            return None
        after = len(probe[:upto].rstrip(_WS)) - 1  # offset in `window` just after the closing `]`
        inside = window[: after - 1].rstrip(_WS)
        return len(inside), len(points), after


def _byte_offset(data: bytes, char_pos: int) -> int:
    """orjson's error position counts characters: the offset in bytes of character `char_pos`."""
    if data.isascii():
        return char_pos
    return len(data.decode("utf-8", "replace")[:char_pos].encode("utf-8"))


def _text(token: bytes) -> str:
    try:
        text = orjson.loads(token)
    except orjson.JSONDecodeError:
        raise NotStreamable(f"a key that is not a JSON string: {token[:40]!r}") from None
    return str(text)
