"""Reading vendor documents: files under a folder (URLs come in through the same shape)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from ingest.errors import GridhouseError
from ingest.quarantine import Rejects


@dataclass(frozen=True)
class Document:
    """One vendor response: its name (recorded as `_source_file`) and its bytes."""

    name: str
    content: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.content).hexdigest()

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
        return Document(name=self.name, content=self.path.read_bytes())


def find_files(root: Path, pattern: str, label: str) -> list[FileInput]:
    """The files under `root` matching `pattern`, sorted, named `<label>/<relative path>`."""
    if not root.exists():
        return []
    paths = [root] if root.is_file() else sorted(p for p in root.rglob(pattern) if p.is_file())
    base = root.parent if root.is_file() else root
    return [FileInput(path, f"{label}/{path.relative_to(base).as_posix()}") for path in paths]


def parse_json(doc: Document, rejects: Rejects) -> object | None:
    """The parsed document, or None after quarantining the whole file as one record."""
    try:
        return orjson.loads(doc.content)
    except orjson.JSONDecodeError as exc:
        reason = "truncated JSON" if _looks_truncated(doc.content) else "not valid JSON"
        rejects.add("$", None, f"{reason}: {exc}", doc.content)
        return None


def _looks_truncated(content: bytes) -> bool:
    stripped = content.strip()
    return bool(stripped) and stripped[:1] in (b"{", b"[") and stripped[-1:] not in (b"}", b"]")
