"""Reading vendor documents: files under a folder (URLs come in through the same shape).

JSON is parsed by orjson (strict and fast). A document it refuses, or one that holds what PostgreSQL
cannot store (a NUL) or JSON does not define well (a key twice in one object), is read again by a
tolerant pass (Tolerant): every value that is fine comes out as orjson would give it, and each part
that is not is a `Flawed` value (ingest/quarantine.py) in its place, carrying its problem and its exact
bytes, so the parsers quarantine only the records that hold one:
- bytes that are not UTF-8, NUL characters (`\\u0000`) and lone surrogate escapes in a string;
- NaN, Infinity, and numbers beyond a double (1e400);
- a key twice in one object (orjson would keep one of the values without a word);
- text that is not JSON.
A file cut short stays one record as a whole (which of its records are complete, and what was to
come, is unknown); its next whole delivery loads.
A UTF-8 byte order mark at the start of a file is not part of any record: it is skipped.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import orjson

from ingest.errors import GridhouseError
from ingest.filestat import matching_files
from ingest.quarantine import Flawed, JsonPath, Rejects

BOM = b"\xef\xbb\xbf"


class Document:
    """One vendor response: its name (recorded as `_source_file`) and its bytes. A file's bytes are read
    only when asked for (`content`): its digest is hashed in pieces and a big telemetry file is streamed
    (ingest/streaming.py), so neither needs the whole file in memory."""

    def __init__(self, name: str, content: bytes | None = None, path: Path | None = None) -> None:
        assert content is not None or path is not None, name
        self.name, self.path, self._content = name, path, content

    @property
    def content(self) -> bytes:
        if self._content is None:
            assert self.path is not None
            self._content = self.path.read_bytes()
        return self._content

    @property
    def size(self) -> int:
        return (
            len(self._content) if self._content is not None or self.path is None else self.path.stat().st_size
        )

    @functools.cached_property
    def digest(self) -> str:
        if self._content is not None or self.path is None:
            return hashlib.sha1(self.content).hexdigest()
        with self.path.open("rb") as f:
            return hashlib.file_digest(f, "sha1").hexdigest()

    def head(self) -> bytes:
        """The first SNIFF_BYTES, enough to tell the kind of file (other_kind)."""
        return (
            self.content[:SNIFF_BYTES]
            if self._content is not None or self.path is None
            else head_of(self.path)
        )

    @property
    def stem(self) -> str:
        return self.name.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def require_dir(path: Path, source: str, expected: str) -> Path:
    if not path.exists():
        raise GridhouseError(f"{source}: {path} does not exist; pass the folder that holds {expected}")
    return path


@dataclass(frozen=True)
class FileInput:
    """A file to read later, under the name it will be recorded with."""

    path: Path
    name: str

    def read(self, cursors: object = None) -> Document:
        return Document(self.name, path=self.path)


@dataclass(frozen=True)
class UnnamableInput:
    """A file whose name is not UTF-8 text: it cannot be recorded (`_source_file`, the device of a
    telemetry file), so it is reported as not loaded, never skipped without a word."""

    path: Path
    name: str  # the name with its bytes that are not UTF-8 shown as \\xNN

    def read(self, cursors: object = None) -> Document:
        raise GridhouseError("the file name is not UTF-8 text: rename the file to load it")


def find_files(root: Path, pattern: str, label: str) -> list[FileInput | UnnamableInput]:
    """The files under `root` matching `pattern`, sorted, named `<label>/<relative path>`."""
    found: list[FileInput | UnnamableInput] = []
    for name, path in matching_files(root, pattern, label):
        if unstorable(name) is None:
            found.append(FileInput(path, name))
        else:
            found.append(UnnamableInput(path, os.fsencode(name).decode("utf-8", "backslashreplace")))
    return found


# -- kinds of file: each loader checks that a file holds what it expects before parsing it -------------
BATTERY_ASSETS = "battery assets (assets.json)"
BATTERY_TELEMETRY = "battery telemetry (telemetry/<deviceId>.json)"
METER_READINGS = "meter readings (Exnaton JSON)"
TENANT_MAP = "a tenant map (tenants.csv)"
CIRCUIT_METADATA = "circuit metadata (init.sql, SQL INSERT statements)"
CIRCUIT_POWER = "circuit power samples (JSON)"
DEVICE_REGISTRY = "a device registry (devices.json)"
DEVICE_READINGS = "device readings (JSON lines, telemetry/*.jsonl)"

_JSON = re.compile(rb"\s*[\[{]")
_SQL = re.compile(rb"\s*(?:--[^\n]*\n\s*)*(?:insert|begin|commit|set|create|start)\b", re.IGNORECASE)
_CSV = re.compile(rb"[^\n{\[]*\bmuid\b[^\n{\[]*,[^\n{\[]*\btenant")


def _key(*names: str) -> re.Pattern[bytes]:
    """A key of a JSON object (not the same text escaped inside a string)."""
    return re.compile(rb'(?<!\\)"(?:' + "|".join(names).encode() + rb')"\s*:')


# per kind: how its first bytes start, and keys one of which each group must show
_KINDS: dict[str, tuple[re.Pattern[bytes], tuple[re.Pattern[bytes], ...]]] = {
    BATTERY_TELEMETRY: (_JSON, (_key("series"),)),
    BATTERY_ASSETS: (_JSON, (_key("totalCount", "items", "deviceId"),)),
    CIRCUIT_POWER: (_JSON, (_key("duid"), _key("circuit_number"))),
    DEVICE_REGISTRY: (_JSON, (_key("home_id"),)),
    DEVICE_READINGS: (_JSON, (_key("device_id"), _key("power_w", "energy_wh"))),
    METER_READINGS: (_JSON, (_key("tags", "[0-9A-Fa-f]{12}"),)),
    CIRCUIT_METADATA: (_SQL, ()),
    TENANT_MAP: (_CSV, ()),
}
SNIFF_BYTES = 1 << 16


def looks_like(content: bytes, kind: str) -> bool:
    """Whether the first 64 KiB of `content` look like a file of `kind`."""
    head = without_bom(content[:SNIFF_BYTES])
    start, keys = _KINDS[kind]
    return start.match(head) is not None and all(key.search(head) for key in keys)


def other_kind(content: bytes, expected: str) -> str | None:
    """The kind of file `content` holds when it is plainly another than `expected` (by its first 64 KiB);
    None when it looks like `expected`, or like nothing known (its parser then says what is wrong)."""
    if looks_like(content, expected):
        return None
    return next((kind for kind in _KINDS if kind != expected and looks_like(content, kind)), None)


def wrong_kind(found: str, expected: str) -> str:
    return f"wrong kind of file: it holds {found}, where {expected} is expected"


def head_of(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(SNIFF_BYTES)


def expect_kind(path: Path, source: str, expected: str) -> None:
    """A file named on the command line must hold `expected`: else one line naming both."""
    found = other_kind(head_of(path), expected)
    if found is not None:
        raise GridhouseError(f"{source}: {path} holds {found}, not {expected}")


def without_bom(content: bytes) -> bytes:
    return content[len(BOM) :] if content.startswith(BOM) else content


def parse_json(doc: Document, rejects: Rejects) -> object | None:
    """The parsed document, its unloadable parts `Flawed` (see the module); None after quarantining
    the whole file as one record, when nothing of it can be read (not JSON, a key twice at the top)."""
    body = loads(without_bom(doc.content))
    if isinstance(body, Flawed) and (isinstance(body, Bad) or body.own):
        rejects.add("$", None, body.problem, doc.content)
        return None
    return body


def loads(content: bytes, unit: str = "file") -> object:
    """One JSON value: orjson's, or the tolerant pass's when orjson refuses it or it holds a NUL or a
    duplicate key. The result (or parts of it) may be `Flawed`."""
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        return Tolerant(content, unit).document()
    if b"\\u0000" in content or _drops_keys(content, value):
        return Tolerant(content, unit).document()
    return value


def json_lines(content: bytes) -> list[tuple[int, bytes, object]]:
    """(line number, line, value) per non-blank line of a JSON-lines document; a line's value may be
    `Flawed` (see loads). The NUL and duplicate-key checks run once over the document, and line by line
    only when the document has one."""
    lines = without_bom(content).split(b"\n")
    if b"\r" in content:
        lines = [line.removesuffix(b"\r") for line in lines]
    out: list[tuple[int, bytes, object]] = []
    flawed_colons = 0
    parse = orjson.loads
    for number, line in enumerate(lines, start=1):
        try:
            out.append((number, line, parse(line)))
        except orjson.JSONDecodeError:
            if line.strip():
                out.append((number, line, Tolerant(line, "line").document()))
                flawed_colons += line.count(b":")
    good = [value for _, _, value in out if not isinstance(value, Flawed)]
    if b"\\u0000" in content or _drops_keys(content, good, flawed_colons):
        out = [(n, line, loads(line, "line") if not isinstance(v, Flawed) else v) for n, line, v in out]
    return out


def _drops_keys(content: bytes, value: object, uncounted: int = 0) -> bool:
    """Whether orjson dropped a member (a key twice in one object), counted cheaply: outside strings a
    colon separates each member from its value, so the input has one more colon (plus the dropped
    value's) than `value` written back for each member dropped. Colons inside strings are in both,
    except those escaped as \\u003a in the input, which are added back. `uncounted`: colons of input
    lines that `value` leaves out.

    First a lower bound of the colons written, which skips arrays of arrays and numbers (a battery's
    points): when the input has no more colons than that, nothing was dropped; otherwise the exact count.
    """
    colons = content.count(b":") - uncounted
    if not colons:
        return False
    escaped = content.count(b"\\u003a") + content.count(b"\\u003A") if b"\\u00" in content else 0
    if colons + escaped <= _colons_written(value, lower_bound=True):
        return False
    return colons + escaped > _colons_written(value, lower_bound=False)


CHUNK = 4096  # elements of an array written at a time, not the whole document at once


def _colons_written(value: object, lower_bound: bool) -> int:
    """Colons in `value` written as JSON; with `lower_bound`, arrays that hold no object first are
    skipped (never more than the exact count). Long arrays are written a chunk at a time."""
    if isinstance(value, dict):
        return sum(k.count(":") + 1 + _colons_written(v, lower_bound) for k, v in value.items())
    if isinstance(value, list):
        if lower_bound and not (value and isinstance(value[0], dict)):
            return 0
        if lower_bound and len(value) <= 64:  # a few objects (a battery's series): their members
            return sum(_colons_written(v, lower_bound) for v in value)
        return sum(orjson.dumps(value[i : i + CHUNK]).count(b":") for i in range(0, len(value), CHUNK))
    return value.count(":") if isinstance(value, str) else 0


# -- the tolerant pass -------------------------------------------------------------------------------
class Bad(Flawed):
    """A value that cannot be loaded at all (not JSON, NaN, 1e400, a string with a NUL)."""

    def __init__(self, problem: str, source: Tolerant, start: int, end: int) -> None:
        self.problem, self.own = problem, True
        self._source, self._start, self._end = source, start, end

    @property
    def raw(self) -> bytes:
        return self._source.bytes(self._start, self._end)

    def __repr__(self) -> str:  # what the parsers' messages quote
        return self._source.text[self._start : self._end].encode("utf-8", "replace").decode()


class FlawedDict(dict, Flawed):
    """An object with a flawed part or a key twice (`own`)."""

    def __init__(self, pairs: list, problem: str, own: bool, source: Tolerant, start: int, end: int):
        super().__init__(pairs)
        self.problem, self.own = problem, own
        self._source, self._start, self._end = source, start, end

    @property
    def raw(self) -> bytes:
        return self._source.bytes(self._start, self._end)


class FlawedList(list, Flawed):
    """An array with a flawed element (or cut short)."""

    def __init__(self, items: list, problem: str, source: Tolerant, start: int, end: int) -> None:
        super().__init__(items)
        self.problem, self.own = problem, False
        self._source, self._start, self._end = source, start, end

    @property
    def raw(self) -> bytes:
        return self._source.bytes(self._start, self._end)


class _Flag(Exception):
    """Raised by the decoder's hooks inside a fast parse: that value has a flaw to find."""


_WS = re.compile(r"[ \t\n\r]*")
_PLAIN = json.JSONDecoder()  # finds where a value ends (NaN and a key twice are no matter there)
# one array element that is a scalar or an array of scalars, and the comma after it; runs of 1024, 64, 1
_FLAT = r'[ \t\n\r]*(?:\[[^\[\]{}"]*\]|"(?:[^"\\]|\\.)*"|[^\[\]{},"\s][^\[\]{},"]*?)[ \t\n\r]*,'
_FLAT_RUNS = [(n, re.compile(f"(?:{_FLAT}){{{n}}}", re.DOTALL)) for n in (1024, 64, 1)]
# strings skipped whole (an unterminated one runs to the end), and the characters that delimit values
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{},]', re.DOTALL)
# what may make a string unloadable: a byte that is not UTF-8 (kept as a lone surrogate by the
# surrogateescape decoding), \u0000, a surrogate escape
_SUSPECT = re.compile(r"[\udc80-\udcff]|\\u0000|\\u[dD][89abAB]")

TRUNCATED = "truncated JSON: the {} ends before the value it began is complete"
NAN = "{} is not a JSON number (JSON has no NaN or Infinity): publish null or leave the value out"
OUT_OF_RANGE = "number {} is out of range (beyond a double, about ±1.8e308)"
NUL = "NUL character (\\u0000): PostgreSQL text cannot hold it, so the record is quarantined, not altered"
NOT_UTF8 = "bytes that are not UTF-8 text ({}): re-export the file as UTF-8"
SURROGATE = "a lone UTF-16 surrogate escape in a string ({}): not a character, so it cannot be stored"
DUPLICATE = "duplicate key {!r} in one object: JSON keys are unique, so which value is meant is unknown"


class Tolerant:
    """The tolerant pass over one JSON document (see the module).

    Each value is first parsed whole by the json module's C scanner, whose hooks stop at NaN, numbers
    out of range and duplicate keys; a value that fails, or holds one of those or a suspect string, is
    taken apart (its members, its elements) until each flaw sits in the smallest value that holds it.
    Only the containers on the way to a flaw are parsed element by element.
    """

    def __init__(self, content: bytes, unit: str = "file") -> None:
        self.text = content.decode("utf-8", errors="surrogateescape")  # every byte kept, and restorable
        self.unit = unit  # the text is a file, or a line of one
        self.cut = False  # the text ends inside a value
        self.n = len(self.text)
        ascii_only = self.text.isascii()
        self.suspects = (
            [m.start() for m in _SUSPECT.finditer(self.text)] if not ascii_only or "\\u" in self.text else []
        )
        self.decoder = json.JSONDecoder(
            parse_float=self._float, parse_int=self._int, parse_constant=self._constant,
            object_pairs_hook=self._pairs,
        )  # fmt: skip

    def bytes(self, start: int, end: int) -> bytes:
        return self.text[start:end].encode("utf-8", "surrogateescape")

    def document(self) -> object:
        """The value of the whole text. A text cut short is one flaw as a whole: which of its records
        are complete, and whether more were to come, is unknown (its next whole delivery loads)."""
        start = self._ws(0)
        value, end = self.value(start)
        if self.cut:
            return Bad(TRUNCATED.format(self.unit), self, start, self.n)
        end = self._ws(end)
        if end < self.n:  # text after the value: which of the two is the document is unknown
            reason = (
                self._not_utf8(start, self.n)
                or f"not valid JSON: text after the value: {self._shown(end, self.n)}"
            )
            return Bad(reason, self, start, self.n)
        return value

    # hooks of the fast parse: a flaw stops it
    @staticmethod
    def _float(text: str) -> float:
        value = float(text)
        if math.isinf(value):
            raise _Flag
        return value

    @staticmethod
    def _int(text: str) -> int | float:
        value = int(text)
        if -(2**63) <= value < 2**64:
            return value
        return float(value)  # as orjson reads it; beyond a double it raises OverflowError, a flaw

    @staticmethod
    def _constant(text: str) -> float:
        raise _Flag

    @staticmethod
    def _pairs(pairs: list) -> dict:
        value = dict(pairs)
        if len(value) != len(pairs):
            raise _Flag
        return value

    def _ws(self, i: int) -> int:
        return _WS.match(self.text, i).end()  # type: ignore[union-attr]

    skip_ws = _ws

    def find(self, i: int, wanted: dict, path: JsonPath, found: dict[JsonPath, bytes]) -> int:
        """Where the value at `i` ends; the bytes of it (at `path`) and of the values below it that
        `wanted` names are put in `found`."""
        below = len(wanted) > (_HERE in wanted)  # else nothing wanted below: skip it whole
        end = self._find_in(i, wanted, path, found) if below else self._end(i)
        if _HERE in wanted:
            found[path] = self.bytes(i, end)
        return end

    def _find_in(self, i: int, wanted: dict, path: JsonPath, found: dict[JsonPath, bytes]) -> int:
        text, opener = self.text, self.text[i : i + 1]
        if opener not in ("{", "["):
            return self._end(i)
        j, index = self._ws(i + 1), 0
        targets = sorted((k for k in wanted if isinstance(k, int)), reverse=True) if opener == "[" else []
        while j < self.n and not text.startswith("}" if opener == "{" else "]", j):
            while targets and targets[-1] < index:
                targets.pop()
            if opener == "[" and (not targets or targets[-1] > index):  # elements not wanted: in bulk
                j, skipped = self._skip_flat(j, targets[-1] - index if targets else self.n)
                index += skipped
                if skipped:
                    j = self._ws(j)
                    continue
            key: str | int = index
            if opener == "{":
                try:
                    key, j = json.decoder.scanstring(text, j + 1, True)
                except (json.JSONDecodeError, IndexError):
                    return self._skip(i)
                j = self._ws(j)
                if not text.startswith(":", j):
                    return self._skip(i)
                j = self._ws(j + 1)
            j = self.find(j, wanted[key], (*path, key), found) if key in wanted else self._end(j)
            j = self._ws(j)
            index += 1
            if not text.startswith(",", j):
                break
            j = self._ws(j + 1)
        return min(j + 1, self.n)

    def _skip_flat(self, j: int, limit: int) -> tuple[int, int]:
        """Past up to `limit` elements of an array that hold no object and no array of arrays (a
        battery's points), each with the comma after it, many per regex match: (where, how many)."""
        skipped = 0
        for n, pattern in _FLAT_RUNS:
            while limit - skipped >= n and (match := pattern.match(self.text, j)):
                j, skipped = match.end(), skipped + n
        return j, skipped

    def _end(self, i: int) -> int:
        """Where the value at `i` ends."""
        try:
            return _PLAIN.raw_decode(self.text, i)[1]
        except (ValueError, RecursionError):
            return self._skip(i)

    def _suspect(self, start: int, end: int) -> bool:
        k = bisect.bisect_left(self.suspects, start)
        return k < len(self.suspects) and self.suspects[k] < end

    def value(self, i: int) -> tuple[object, int]:
        """The value starting at `i` (no whitespace before it) and where it ends."""
        char = self.text[i] if i < self.n else ""
        try:
            value, end = self.decoder.raw_decode(self.text, i)
        except (_Flag, ArithmeticError, ValueError, RecursionError) as exc:  # JSONDecodeError: a ValueError
            if char == "{":
                return self._object(i)
            if char == "[":
                return self._array(i)
            end = self._skip(i)
            return Bad(self._scalar_problem(i, end, exc), self, i, end), end
        if not self._suspect(i, end):
            return value, end
        if char == "{":
            return self._object(i)
        if char == "[":
            return self._array(i)
        if isinstance(value, str) and (problem := self._string_problem(value)) is not None:
            return Bad(problem, self, i, end), end
        return value, end

    def _scalar_problem(self, start: int, end: int, exc: BaseException) -> str:
        text = self.text[start:end]
        if not text:
            return self._cut() if start >= self.n else "empty value (a stray comma?)"
        if (bytes_ := self._not_utf8(start, end)) is not None:
            return bytes_
        shown = text if len(text) <= 40 else text[:37] + "..."
        if text in ("NaN", "Infinity", "-Infinity"):
            return NAN.format(text)
        if isinstance(exc, _Flag | ArithmeticError) or type(exc) is ValueError:  # int() of 4,300+ digits
            return OUT_OF_RANGE.format(shown)
        if text.startswith('"') and (end >= self.n or not text.endswith('"')):
            return self._cut() if end >= self.n else f"unterminated string {shown!r}"
        message = str(exc).split(":", 1)[0] if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        return f"not valid JSON: {message} in {shown!r}"

    def _cut(self) -> str:
        self.cut = True
        return TRUNCATED.format(self.unit)

    def _shown(self, start: int, end: int) -> str:
        text = self.text[start:end]
        text = text if len(text) <= 40 else text[:37] + "..."
        return repr(text.encode("utf-8", "replace").decode())

    def _string_problem(self, value: str) -> str | None:
        if "\x00" in value:
            return NUL
        if value.isascii():
            return None
        bad = [f"0x{ord(c) - 0xDC00:02X}" for c in value if "\udc80" <= c <= "\udcff"]
        if bad:
            return NOT_UTF8.format(", ".join(bad[:4]))
        lone = [c for c in value if "\ud800" <= c <= "\udfff"]
        return SURROGATE.format(f"\\u{ord(lone[0]):04x}") if lone else None

    def _skip(self, i: int) -> int:
        """Where the value starting at `i` ends: the next `,` `]` `}` outside strings at its own depth
        (or the end of the text), whitespace before it left out."""
        depth = 0
        end = self.n
        for token in _TOKENS.finditer(self.text, i):
            t = token.group()
            if t in "[{":
                depth += 1
            elif t in "]}":
                if depth == 0:
                    end = token.start()
                    break
                depth -= 1
            elif t == "," and depth == 0:
                end = token.start()
                break
        while end > i and self.text[end - 1] in " \t\n\r":
            end -= 1
        return end

    def _broken(self, start: int, reason: str) -> tuple[Bad, int]:
        end = self._skip(start)
        if (bytes_ := self._not_utf8(start, end)) is not None:
            reason = bytes_
        elif end >= self.n:
            reason = self._cut()
        return Bad(reason, self, start, end), end

    def _not_utf8(self, start: int, end: int) -> str | None:
        """The problem of a span holding bytes that are not UTF-8 (kept as lone surrogates), if it does."""
        if not self._suspect(start, end):
            return None
        bad = [f"0x{ord(c) - 0xDC00:02X}" for c in self.text[start:end] if "\udc80" <= c <= "\udcff"]
        return NOT_UTF8.format(", ".join(bad[:4])) if bad else None

    def _object(self, start: int) -> tuple[object, int]:
        text, pairs, problem, own = self.text, [], None, False
        keys: set[str] = set()
        i = self._ws(start + 1)
        if text.startswith("}", i):
            return {}, i + 1
        while True:
            if not text.startswith('"', i):
                return self._broken(start, f"not valid JSON: expected a key in quotes at character {i}")
            try:
                key, i = json.decoder.scanstring(text, i + 1, True)
            except json.JSONDecodeError as exc:
                return self._broken(start, f"not valid JSON: {str(exc).split(':', 1)[0]} in a key")
            i = self._ws(i)
            if not text.startswith(":", i):
                return self._broken(start, f"not valid JSON: expected ':' after the key {key!r}")
            value, i = self.value(self._ws(i + 1))
            if problem is None and (why := self._string_problem(key)) is not None:
                problem, own = f"in a key: {why}", True
            if problem is None and key in keys:
                problem, own = DUPLICATE.format(key), True
            if problem is None and isinstance(value, Flawed):
                problem = value.problem
            keys.add(key)
            pairs.append((key, value))
            i = self._ws(i)
            if text.startswith(",", i):
                i = self._ws(i + 1)
                continue
            if text.startswith("}", i):
                i += 1
                break
            if i >= self.n:
                problem = problem or self._cut()
                break
            return self._broken(start, f"not valid JSON: expected ',' or '}}' at character {i}")
        if problem is None:
            return dict(pairs), i
        return FlawedDict(pairs, problem, own, self, start, i), i

    def _array(self, start: int) -> tuple[object, int]:
        text, items, problem = self.text, [], None
        i = self._ws(start + 1)
        if text.startswith("]", i):
            return [], i + 1
        while True:
            at = i
            value, i = self.value(i)
            i = self._ws(i)
            if i < self.n and not text.startswith((",", "]"), i):  # text after the value: it is broken
                i = self._skip(i)
                reason = self._not_utf8(at, i) or f"not valid JSON: text after a value: {self._shown(at, i)}"
                value = Bad(reason, self, at, i)
                i = self._ws(i)
            if problem is None and isinstance(value, Flawed):
                problem = value.problem
            items.append(value)
            if text.startswith(",", i):
                i = self._ws(i + 1)
                continue
            if text.startswith("]", i):
                i += 1
                break
            problem = problem or self._cut()  # the end of the text
            break
        if problem is None:
            return items, i
        return FlawedList(items, problem, self, start, i), i


def flaw_field(value: object) -> str | None:
    """Where the first flaw of a flawed record sits, as a field path (`tags.quality`, `[1]`); None when
    it is the record's own (a key twice in it, or nothing of it is JSON)."""
    path = ""
    while isinstance(value, FlawedDict | FlawedList) and not value.own:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, part in items:
            if isinstance(part, Flawed):
                path += f"[{key}]" if isinstance(key, int) else f".{key}" if path else str(key)
                value = part
                break
        else:
            break  # cut short after its last element
    return path or None


def unstorable(text: str) -> str | None:
    """Why PostgreSQL text cannot hold `text` (decoded with surrogateescape); None when it can."""
    if "\x00" in text:
        return NUL
    if text.isascii():
        return None
    bad = [f"0x{ord(c) - 0xDC00:02X}" for c in text if "\udc80" <= c <= "\udcff"]
    return NOT_UTF8.format(", ".join(bad[:4])) if bad else None


def locate(content: bytes, paths: list[JsonPath]) -> dict[JsonPath, bytes]:
    """The exact bytes of the values at `paths` (keys and indices from the top) of a JSON document, in
    one walk over the containers that hold them; a path not there is left out."""
    wanted: dict = {}
    for path in paths:
        node = wanted
        for part in path:
            node = node.setdefault(part, {})
        node[_HERE] = True
    source = Tolerant(without_bom(content))
    found: dict[JsonPath, bytes] = {}
    source.find(source.skip_ws(0), wanted, (), found)
    return found


_HERE = object()  # marks a wanted value in locate()'s tree of paths
