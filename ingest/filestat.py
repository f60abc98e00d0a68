"""A file's size, mtime and ctime, the loader's cheap "has it changed?" (ingest/memory.py, ingest/sync.py).

The ctime is what makes it safe: a program can set a file's mtime back (`cp -p`, `rsync -t`, `touch -d`)
but not its ctime, which the kernel sets on every write, rename over or attribute change. Its own module:
`gridhouse sync` asks it without importing the loader (pyarrow, dlt).
"""

from __future__ import annotations

import time
from pathlib import Path

Stat = tuple[int, int, int]  # (size_bytes, mtime_ns, ctime_ns) of a file before it was read
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
