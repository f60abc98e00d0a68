"""What the loader and `gridhouse sync` ask of files before reading them: which files a folder holds, under
the names the loader records, and each file's size, mtime and ctime, the cheap "has it changed?"
(ingest/memory.py, ingest/sync.py).

The ctime is what makes it safe: a program can set a file's mtime back (`cp -p`, `rsync -t`, `touch -d`)
but not its ctime, which the kernel sets on every write, rename over or attribute change. Its own module:
`gridhouse sync` asks it without importing the loader (pyarrow, dlt).
"""

from __future__ import annotations

import time
from pathlib import Path


def matching_files(root: Path, pattern: str, label: str) -> list[tuple[str, Path]]:
    """The files under `root` matching `pattern`, sorted, each with the name the loader records:
    `<label>/<path relative to root>` (`root` a file: `<label>/<its name>`)."""
    if not root.exists():
        return []
    paths = [root] if root.is_file() else sorted(p for p in root.rglob(pattern) if p.is_file())
    base = root.parent if root.is_file() else root
    return [(f"{label}/{path.relative_to(base).as_posix()}", path) for path in paths]


Stat = tuple[int, int, int]  # (size_bytes, mtime_ns, ctime_ns) of a file before it was read
FILES = "_gridhouse_files"  # per vendor dataset, each file's digest and stat when loaded (ingest/memory.py)
STAT_SETTLE_NS = 2_000_000_000  # coarser than any filesystem's time tick (FAT: 2 s)


def file_stat(path: Path) -> Stat | None:
    """(size, mtime, ctime) of a file, or None when it changed too recently to vouch for its content (it
    may change again within the same clock tick, its stat unchanged)."""
    try:
        st = path.stat()
    except OSError:  # gone or unreadable: reading it says so, as it did before
        return None
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < STAT_SETTLE_NS:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns
