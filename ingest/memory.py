"""What the loader remembers between loads, kept in the target database beside the rows it describes.

- `raw_<vendor>._gridhouse_files`: per file (or URL) the digest of the content last loaded and its counts;
  a file whose digest is unchanged is not read again. With the digest, a file's size, mtime and ctime as
  they were before it was read (`size_bytes`, `mtime_ns`, `ctime_ns`): a file whose stat is still that is
  not even digested (`gridhouse sync` decides there is nothing new without opening a file). A rewrite
  that keeps size and mtime (`cp -p`, `rsync -t`) still moves the ctime, which no program can set back.
  A stat taken within 2 s of the file's last change is not kept (ingest/filestat.py: the file may change
  again within the filesystem's clock tick): such a file is digested again next time.
- `raw_<vendor>._gridhouse_series`: per fact table and series the series marks (marks.py): the highest
  time loaded, how many points up to it and a checksum over their times and values.

Both are read when a load starts and written in the transaction that logs the load `finished`
(ingest/loads.py), after every row of the load is committed. So the memory describes exactly the rows of
finished loads: a new, recreated or restored database remembers what it holds and nothing more, and the
local dlt folder is only a cache. A load that wrote rows without finishing (it died, failed or was
recovered) makes the loader forget the files and series those rows touched (forget()). Memory is an
optimisation: a file read again whose rows are already held changes nothing (the raw tables' unique
keys and the settle step decide).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest.filestat import FILES, Stat
from ingest.loads import TABLE as LOG
from ingest.reports import FileReport
from ingest.sources.marks import SERIES_SEPARATOR

SERIES = "_gridhouse_series"

Mark = list[int]  # [hwm_ms, n, checksum]


def ensure_memory(db: Any, dataset: str) -> None:
    """The two memory tables of a vendor's dataset (`db`: a psycopg connection)."""
    from psycopg import sql

    schema = sql.Identifier(dataset)
    db.execute(
        sql.SQL(
            "create table if not exists {}.{} ("
            "source_file varchar primary key, "
            "digest varchar not null, "
            "loaded_at timestamp with time zone not null, "
            "read bigint not null, "
            "loaded bigint not null, "
            "corrected bigint not null, "
            "quarantined bigint not null)"
        ).format(schema, sql.Identifier(FILES))
    )
    # added later: memory made before them gets them here (null: digest the file next time)
    db.execute(
        sql.SQL(
            "alter table {}.{} add column if not exists size_bytes bigint, add column if not exists mtime_ns bigint, "
            "add column if not exists ctime_ns bigint"
        ).format(schema, sql.Identifier(FILES))
    )
    db.execute(
        sql.SQL(
            "create table if not exists {}.{} ("
            "table_name varchar not null, "
            "series varchar not null, "
            "hwm_ms bigint not null, "
            "n bigint not null, "
            "checksum bigint not null, "
            "primary key (table_name, series))"
        ).format(schema, sql.Identifier(SERIES))
    )


@dataclass
class Memory:
    """One vendor's memory as read at the start of a load, and what the load changes in it."""

    digests: dict[str, str] = field(default_factory=dict)  # source_file -> digest
    marks: dict[str, dict[str, Mark]] = field(default_factory=dict)  # table -> series -> mark
    changed: dict[str, set[str]] = field(default_factory=dict)  # table -> series whose mark changed
    files: dict[str, tuple[str, FileReport]] = field(default_factory=dict)  # read in this load
    stats: dict[str, Stat] = field(default_factory=dict)  # source_file -> its stat when digested
    restats: dict[str, Stat | None] = field(default_factory=dict)  # new stats of files read in this load
    forgotten: dict[str, set[str]] = field(default_factory=dict)  # table -> series whose mark is dropped

    @classmethod
    def read(cls, db: Any, dataset: str) -> Memory:
        from psycopg import sql

        memory = cls()
        # written with the log row that says `finished`; the join says so again, should the log be edited
        files = sql.SQL(
            "select f.source_file, f.digest, f.size_bytes, f.mtime_ns, f.ctime_ns from {schema}.{files} as f "
            "inner join {schema}.{log} as l on l.loaded_at = f.loaded_at and l.status = 'finished'"
        ).format(schema=sql.Identifier(dataset), files=sql.Identifier(FILES), log=sql.Identifier(LOG))
        for name, digest, *stat in db.execute(files):
            memory.digests[name] = digest
            if None not in stat:
                memory.stats[name] = tuple(stat)
        series = sql.SQL("select table_name, series, hwm_ms, n, checksum from {}.{}").format(
            sql.Identifier(dataset), sql.Identifier(SERIES)
        )
        for table, name, hwm_ms, n, checksum in db.execute(series):
            memory.marks.setdefault(table, {})[name] = [hwm_ms, n, checksum]
        return memory

    def marks_of(self, table: str) -> dict[str, Mark]:
        return self.marks.setdefault(table, {})

    def changed_in(self, table: str) -> set[str]:
        return self.changed.setdefault(table, set())

    def cursors(self) -> dict[str, Any]:
        """What an API input reads to ask only for new points (ingest/remote.py UrlInput)."""
        return {"marks": self.marks}

    def remember(self, source_file: str, digest: str, report: FileReport, stat: Stat | None = None) -> None:
        self.files[source_file] = (digest, report)
        self.restats[source_file] = stat

    def unchanged(self, source_file: str, stat: Stat | None) -> bool:
        """Whether a finished load read this file with this very stat (then it is not digested)."""
        return stat is not None and source_file in self.digests and self.stats.get(source_file) == stat

    def restat(self, source_file: str, stat: Stat | None) -> None:
        """A file whose digest is the one remembered under another stat (touched, copied): keep its new
        stat, so the next load need not digest it."""
        if stat is not None and self.stats.get(source_file) != stat:
            self.restats[source_file] = stat

    def forget(self, files: set[str], series: dict[str, set[str]]) -> None:
        """Not to remember these files, nor the marks of these series (table -> series names): rows of
        them that the database refused (quarantined instead) are not held, so their next delivery must
        be read again."""
        for name in files:
            self.files.pop(name, None)
            self.restats.pop(name, None)
        for table, names in series.items():
            self.forgotten.setdefault(table, set()).update(names)
            self.changed_in(table).difference_update(names)

    def write(self, db: Any, dataset: str, loaded_at: datetime) -> None:
        """Upsert the files read and the marks changed, in the caller's transaction."""
        from psycopg import sql

        schema = sql.Identifier(dataset)
        if self.files:
            db.cursor().executemany(
                sql.SQL(
                    "insert into {}.{} as f (source_file, digest, loaded_at, read, loaded, corrected, quarantined, "
                    "size_bytes, mtime_ns, ctime_ns) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                    "on conflict (source_file) do update set (digest, loaded_at, read, loaded, corrected, "
                    "quarantined, size_bytes, mtime_ns, ctime_ns) = (excluded.digest, excluded.loaded_at, "
                    "excluded.read, excluded.loaded, excluded.corrected, excluded.quarantined, "
                    "excluded.size_bytes, excluded.mtime_ns, excluded.ctime_ns)"
                ).format(schema, sql.Identifier(FILES)),
                [
                    (
                        name,
                        digest,
                        loaded_at,
                        r.read,
                        r.loaded,
                        r.corrected,
                        r.quarantined,
                        *_stat(self, name),
                    )
                    for name, (digest, r) in self.files.items()
                ],
            )
        touched = [(*stat, name) for name, stat in self.restats.items() if name not in self.files and stat]
        if touched:  # same content under a new stat: only the stat changes
            db.cursor().executemany(
                sql.SQL(
                    "update {}.{} set size_bytes = %s, mtime_ns = %s, ctime_ns = %s where source_file = %s"
                ).format(schema, sql.Identifier(FILES)),
                touched,
            )
        for table, names in self.forgotten.items():
            db.execute(
                sql.SQL("delete from {}.{} where table_name = %s and series = any(%s)").format(
                    schema, sql.Identifier(SERIES)
                ),
                (table, sorted(names)),
            )
        if not any(self.changed.values()):
            return
        # many series (a fleet of devices): one statement over arrays, not a row each (and no COPY, which
        # some servers, such as the PGlite test tier, lack)
        rows = [
            (table, name, *self.marks_of(table)[name])
            for table, names in self.changed.items()
            for name in names
        ]
        db.execute(
            sql.SQL(
                "insert into {}.{} (table_name, series, hwm_ms, n, checksum) "
                "select * from unnest(%s::varchar[], %s::varchar[], %s::bigint[], %s::bigint[], %s::bigint[]) "
                "on conflict (table_name, series) do update "
                "set (hwm_ms, n, checksum) = (excluded.hwm_ms, excluded.n, excluded.checksum)"
            ).format(schema, sql.Identifier(SERIES)),
            [list(column) for column in zip(*rows, strict=True)],
        )


def _stat(memory: Memory, name: str) -> tuple[int | None, ...]:
    stat = memory.restats.get(name)
    return (None, None, None) if stat is None else stat


def forget(
    db: Any, dataset: str, tables: list[tuple[str, str, tuple[str, ...]]], stamps: list[datetime]
) -> None:
    """Forget the files and series of the rows stamped with `stamps`, loads that wrote rows without
    finishing (died, failed, recovered): what they wrote may differ from what the memory of the finished
    loads says is held, so those files are read again and their rows upserted. `tables`: for every table
    such a load may have written, (its name, the table its series marks are kept under, the key columns
    of a series: none for tables without marks)."""
    from psycopg import sql

    schema = sql.Identifier(dataset)
    for table, marked, series in tables:
        db.execute(
            sql.SQL(
                "delete from {}.{} where source_file in (select _source_file from {}.{} where _loaded_at = any(%s))"
            ).format(schema, sql.Identifier(FILES), schema, sql.Identifier(table)),
            (stamps,),
        )
        if not series:
            continue
        name = sql.SQL("concat_ws({}, {})").format(  # as marks.series_name() names a series
            sql.Literal(SERIES_SEPARATOR), sql.SQL(", ").join(sql.Identifier(c) for c in series)
        )
        db.execute(
            sql.SQL(
                "delete from {}.{} where table_name = %s "
                "and series in (select {} from {}.{} where _loaded_at = any(%s))"
            ).format(schema, sql.Identifier(SERIES), name, schema, sql.Identifier(table)),
            (marked, stamps),
        )
