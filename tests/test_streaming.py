"""ingest/streaming.py: a telemetry document read as a stream gives what orjson gives for the whole one,
in chunks whose memory does not grow with the document, or refuses (NotStreamable) before any point."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from ingest.streaming import NotStreamable, columns, open_telemetry

CHUNK_SIZES = (1, 7, 64, 1000, 1 << 20)  # 1 byte: every point its own piece; 1 MB: one piece


def streamed(source: Path | bytes, chunk_bytes: int) -> Any:
    """The document rebuilt from the stream: the skeleton with each streamed data array filled in."""
    with open_telemetry(source, chunk_bytes=chunk_bytes) as doc:
        whole = doc.skeleton
        for i, array in doc.arrays.items():
            points: list[Any] = []
            for first, chunk in doc.chunks(i):
                assert first == len(points) and chunk
                points += chunk
            assert len(points) == array.count == doc.count(i)
            assert whole["series"][i]["data"] == []
            whole["series"][i]["data"] = points
        return whole


def same_as_whole(text: bytes, tmp_path: Path | None = None) -> None:
    expected = orjson.loads(text)
    for chunk_bytes in CHUNK_SIZES:
        assert streamed(text, chunk_bytes) == expected, chunk_bytes
    if tmp_path is not None:
        path = tmp_path / "telemetry.json"
        path.write_bytes(text)
        assert streamed(path, 64) == expected


def telemetry(points: int = 50, series: int = 3) -> dict[str, Any]:
    return {
        "series": [
            {
                "name": f"M{s}PowerW",
                "data": [[1_700_000_000_000 + 4000 * p, p * 0.5 - s] for p in range(points)],
            }
            for s in range(series)
        ]
    }


def test_compact_and_pretty_documents_stream_as_they_parse(tmp_path):
    doc = telemetry()
    same_as_whole(orjson.dumps(doc), tmp_path)
    same_as_whole(orjson.dumps(doc, option=orjson.OPT_INDENT_2), tmp_path)  # as the fixtures are written
    spaced = orjson.dumps(doc).replace(b",", b" ,\r\n\t").replace(b"]", b" ] ").replace(b"[", b" [ ")
    same_as_whole(spaced, tmp_path)


def test_hostile_points_and_keys_come_through_as_orjson_reads_them(tmp_path):
    doc = {
        "meta": {"data": [[1, 2]], "note": 'a "series" key, ], [ and , in a string'},
        "series": [
            {"data": [[1, 2.5], [3, 4]], "name": "DataBeforeNameW", "unit": "W"},
            {
                "name": "HostileW",
                "data": [
                    [1, '],["x'],
                    ["é€😀", 2],
                    [[1, 2], [3]],
                    {"a": [1, {"b": "],"}]},
                    None,
                    True,
                    5,
                    "str",
                    [],
                    [1, 2, 3],
                    [-5, 1e300],
                    [2**63, 1],
                    [1.5, 2],
                ],
            },  # fmt: skip
            {"name": "EmptyW", "data": []},
            {"name": "NullDataW", "data": None},
            {"name": "ObjectDataW", "data": {"x": [[1, 2]]}},
            "not a series",
            {"name": 5, "data": [[1, 1]]},
            {},
        ],
        "trailer": [1, 2, {"series": "no"}],
    }
    same_as_whole(orjson.dumps(doc), tmp_path)
    same_as_whole(orjson.dumps(doc, option=orjson.OPT_INDENT_2), tmp_path)


def test_only_the_data_arrays_of_the_series_list_are_streamed():
    doc = {"series": [{"name": "AW", "data": [[1, 2]]}, {"name": "BW", "data": None}], "data": [[3, 4]]}
    with open_telemetry(orjson.dumps(doc)) as stream:
        assert set(stream.arrays) == {0}
        assert stream.count(1) is None and list(stream.chunks(1)) == []
        assert stream.skeleton["data"] == [[3, 4]]


def test_random_documents_stream_as_they_parse():
    rng = random.Random(15)
    alphabet = ['"', "\\", "]", "[", ",", "{", "}", ":", " ", "é", "\u2028", "x", "\n"]

    def value(depth: int) -> Any:
        kind = rng.randrange(7 if depth < 3 else 4)
        if kind == 0:
            return rng.randrange(-(10**15), 10**15)
        if kind == 1:
            return rng.uniform(-1e6, 1e6)
        if kind == 2:
            return "".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))
        if kind == 3:
            return rng.choice([None, True, False])
        if kind == 4:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {f"k{i}": value(depth + 1) for i in range(rng.randrange(3))}

    for _ in range(40):
        series = []
        for s in range(rng.randrange(4)):
            data = [
                [rng.randrange(10**13), rng.random()] if rng.random() < 0.8 else value(1)
                for _ in range(rng.randrange(30))
            ]
            item = {"name": f"S{s}W", "data": data}
            if rng.random() < 0.3:
                item = {"extra": value(1), **item} if rng.random() < 0.5 else {"data": data, "name": f"S{s}W"}
            series.append(item)
        text = orjson.dumps({"series": series}, option=orjson.OPT_INDENT_2 if rng.random() < 0.5 else 0)
        same_as_whole(text)


@pytest.mark.parametrize(
    "text",
    [
        b'{"series": [{"name": "AW", "data": [[1, NaN]]}]}',  # not JSON inside a data array
        b'{"series": [{"name": "AW", "data": [[1, 2], [3, 4]]}]',  # truncated
        b'{"series": [{"name": "AW", "data": [[1, 2], [3, 4',  # truncated inside the points
        b'{"series": [{"name": "AW", "data": [[1, 2]]}]} x',  # trailing junk
        b'{"series": [{"name": "AW", "data": [[1, 2]]}], "series": []}',  # which one counts?
        b'{"series": [{"name": "AW", "data": [[1, 2]], "data": []}]}',
        b'{"series": [{"name": "AW", "name": "BW", "data": [[1, 2]]}]}',
        b'[{"name": "AW", "data": [[1, 2]]}]',  # not an object
        b'\xef\xbb\xbf{"series": []}',  # a BOM
        b'{"series": [{"name": "A\xffW", "data": [[1, 2]]}]}',  # not UTF-8 outside the points
        b'{"series": [{"name": "AW", "data": [[1, "\xff"]]}]}',  # not UTF-8 inside them
        b"",
        b"   ",
    ],
)
def test_what_the_stream_cannot_read_as_the_whole_is_refused(text, tmp_path):
    for chunk_bytes in (1, 64, 1 << 20):
        with pytest.raises(NotStreamable):
            open_telemetry(text, chunk_bytes=chunk_bytes)
    path = tmp_path / "bad.json"
    path.write_bytes(text)
    with pytest.raises(NotStreamable):
        open_telemetry(path)


def test_a_point_larger_than_the_stream_reads_is_refused():
    text = orjson.dumps({"series": [{"name": "AW", "data": [[1, "x" * 5000], [2, 3]]}]})
    with pytest.raises(NotStreamable, match="series\\[0\\].data"):
        open_telemetry(text, chunk_bytes=64, max_piece_bytes=1024)
    assert streamed(text, 64) == orjson.loads(text)  # the window grows up to the limit


def test_memory_of_a_chunk_does_not_grow_with_the_document():
    text = orjson.dumps(telemetry(points=100_000, series=2))  # 200 k points, 4.6 MB
    tracemalloc.start()
    try:
        orjson.loads(text)
        whole = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        with open_telemetry(text, chunk_bytes=64 << 10) as stream:
            for i in stream.arrays:
                for _, chunk in stream.chunks(i):
                    del chunk
        chunked = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert whole > 20_000_000  # a list, an int and a float per point
    assert chunked < whole / 10, (chunked, whole)


def test_columns_of_well_formed_points():
    epochs, values = columns([[1, 2], [3, 4.5], [2**62, -1]])
    assert epochs.dtype == np.int64 and values.dtype == np.float64
    assert epochs.tolist() == [1, 3, 2**62] and values.tolist() == [2.0, 4.5, -1.0]
    empty = columns([])
    assert empty is not None and len(empty[0]) == len(empty[1]) == 0


@pytest.mark.parametrize(
    "points",
    [
        [[1, 2], [3]],
        [[1, 2, 3]],
        [[1.0, 2]],  # a time that is a float
        [[True, 2]],
        [[1, False]],
        [[1, None]],
        [[1, "2"]],
        [[2**63, 1]],  # beyond 64 bits
        [{"a": 1, "b": 2}],  # zips over its keys
        ["ab"],  # zips over its characters
        [None],
    ],
)
def test_columns_refuse_anything_else(points):
    assert columns(points) is None


@pytest.mark.parametrize("pretty", [False, True])
def test_the_bytes_of_any_point_or_series_are_found_as_in_the_whole_document(pretty):
    from ingest.documents import locate

    doc = {
        "series": [
            {"name": "AW", "data": [[i, i / 3] for i in range(40)] + [[1, "é],["], None, {"a": [1]}]},
            {"name": "BW", "data": None, "note": "x"},
            {"name": "CW", "data": [[1, 2], [3, True]]},
        ]
    }
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2 if pretty else 0)
    paths = [("series", 0, "data", p) for p in (0, 17, 39, 40, 41, 42, 43)]
    paths += [
        ("series", 1),
        ("series", 1, "data"),
        ("series", 2, "data", 1),
        ("series", 9),
        ("series", 2, "data", 5),
    ]
    expected = locate(text, paths)
    assert len(expected) == len(paths) - 3  # the last three are not there
    for chunk_bytes in CHUNK_SIZES:
        with open_telemetry(text, chunk_bytes=chunk_bytes) as stream:
            assert stream.locate(paths) == expected, chunk_bytes


def _parse_telemetry(path: Path, streamed_from: int | None, piece_bytes: int = 64) -> tuple[Any, ...]:
    """parse_telemetry's rows, rejects and counts for one file, streamed (files of `streamed_from`
    bytes or more, in pieces of about `piece_bytes`) or parsed whole (None)."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from ingest.documents import FileInput, locate
    from ingest.quarantine import Rejects
    from ingest.sources import batteries

    doc = FileInput(path, "telemetry/dev-1.json").read()
    rejects = Rejects(doc.name)
    old = batteries.STREAM_BYTES, batteries.STREAM_PIECE_BYTES
    batteries.STREAM_BYTES = streamed_from if streamed_from is not None else 1 << 62
    batteries.STREAM_PIECE_BYTES = piece_bytes
    try:
        parsed = batteries.parse_telemetry(doc, rejects, datetime(2024, 6, 1, tzinfo=UTC))
        assert isinstance(parsed.tables, list) == (streamed_from is None)  # streamed: an iterator
        tables = list(parsed.tables)  # counts are final once the tables are read
        if paths := rejects.unlocated():  # as walk() does after a whole parse
            rejects.locate(locate(doc.content, paths))
    finally:
        batteries.STREAM_BYTES, batteries.STREAM_PIECE_BYTES = old
    rows = pa.concat_tables([r.table for r in tables]).select(["series_name", "epoch_ms", "value"])
    got = sorted(zip(*(rows.column(c).to_pylist() for c in rows.column_names), strict=True))
    quarantined = sorted((r["position"], r["field"], r["reason"], r["raw"]) for r in rejects.rows)
    return got, quarantined, parsed.read, parsed.loaded


def test_a_telemetry_file_streamed_loads_and_quarantines_what_the_whole_parse_does(tmp_path):
    t0 = 1_714_000_000_000
    kwh = [[t0 + 60_000 * i, 100.0 + i] for i in range(40)]
    kwh[25] = [t0 + 60_000 * 3, 999.0]  # a time the same series had three points before
    soc = [[t0 + 60_000 * i, 50.0] for i in range(30)]
    soc[4], soc[17] = [t0 + 60_000 * 4, 140], [t0 + 60_000 * 17, "n/a"]  # out of range, not a number
    later = [[t0 + 60_000 * i, 1.0] for i in range(38, 45)]  # the name again: 38, 39 are repeats
    doc = {
        "series": [
            {"name": "BatteryExportKwh", "data": kwh},
            {"name": "StateOfChargePercentage", "data": soc},
            {"name": "InverterFrequencyHz", "data": [[t0, 50.0], [t0 + 60_000, 50.1]]},
            {"name": "BatteryExportKwh", "data": later},
            {"name": "BatteryPowerW", "data": [[t0 + 60_000 * i, -5.0 * i] for i in range(50, 0, -1)]},
        ]
    }
    path = tmp_path / "dev-1.json"
    path.write_bytes(orjson.dumps(doc))
    whole = _parse_telemetry(path, None)
    rows, quarantined, read, loaded = whole
    assert (read, loaded) == (40 + 30 + 2 + 7 + 50, 39 + 28 + 5 + 50)
    assert [q[:2] for q in quarantined] == [
        ("series[0].data[25]", "epoch_ms"),
        ("series[1].data[17]", "value"),
        ("series[1].data[4]", "value"),
        ("series[2].data[0]", "name"),
        ("series[2].data[1]", "name"),
        ("series[3].data[0]", "epoch_ms"),
        ("series[3].data[1]", "epoch_ms"),
    ]
    assert quarantined[2][3] == b"[1714000240000,140]"
    for piece_bytes in (1, 64, 1 << 20):  # every point a piece; a few points; the whole array
        assert _parse_telemetry(path, 0, piece_bytes) == whole, piece_bytes
