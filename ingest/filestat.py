"""A file's size and mtime, the loader's cheap "has it changed?" (ingest/memory.py, ingest/sync.py).

Its own module: `gridhouse sync` asks it without importing the loader (pyarrow, dlt).
"""

from __future__ import annotations

import time
from pathlib import Path

Stat = tuple[int, int]  # (size_bytes, mtime_ns) of a file before it was read
STAT_SETTLE_NS = 2_000_000_000  # coarser than any filesystem's mtime tick (FAT: 2 s)


def file_stat(path: Path) -> Stat | None:
    """(size, mtime) of a file, or None when its mtime is too recent to vouch for its content (it may
    still change within the same clock tick, size unchanged)."""
    try:
        st = path.stat()
    except OSError:  # gone or unreadable: reading it says so, as it did before
        return None
    if time.time_ns() - st.st_mtime_ns < STAT_SETTLE_NS:
        return None
    return st.st_size, st.st_mtime_ns
