"""Settle `<table>_late`: rows that may repeat keys already held are upserted, latest delivery wins.

A fact record re-published for a key already held with other values (a vendor's correction: another
value, another quality) replaces the held row; an identical one changes nothing. The replaced row goes
to `<table>_replaced` with `replaced_at`, the `_loaded_at` of the load that replaced it, and the
replacing row carries that load's `_loaded_at` and `_source_file`, so incremental models downstream see
it as new. One statement per table (data-modifying CTEs), so the audit and the upsert are one change.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from ingest.sources.base import TableSpec


def settle(db: Any, dataset: str, spec: TableSpec, loaded_at: datetime) -> Counter[str]:
    """Upsert `spec`'s late rows into its table and empty `<table>_late`; returns the rows replaced
    per `_source_file` of the replacing row. `db` is a psycopg connection; the caller commits."""
    from psycopg import sql

    schema = sql.Identifier(dataset)
    late = db.execute(
        sql.SQL("select exists (select from {}.{})").format(schema, sql.Identifier(spec.late_name))
    )
    if not late.fetchone()[0]:  # the usual case: the marks sent every row straight to the table
        return Counter()
    columns = table_columns(db, dataset, spec.late_name)  # as dlt left them: it may have added columns
    key = list(spec.primary_key)
    rest = [c for c in columns if c not in key]

    def names(prefix: str, cols: list[str]) -> sql.Composable:
        return sql.SQL(", ").join(sql.SQL(prefix) + sql.Identifier(c) for c in cols)

    def values(prefix: str) -> sql.Composable:  # the record's values as a row, compared as a whole
        return sql.SQL("({})").format(names(prefix, list(spec.values)))

    query = sql.SQL(
        """
        with late as (
            -- a key at most once: the newest delivery, over leftovers of a load that died
            select distinct on ({key}) {columns} from {schema}.{late_table}
            order by {key}, _loaded_at desc
        ),
        changed as (
            select late._source_file as replacing_file, {held_columns}
            from late inner join {schema}.{table} as held using ({key})
            where {held_values} is distinct from {late_values}
        ),
        audit as (
            insert into {schema}.{replaced_table} ({columns}, replaced_at)
            select {columns}, %(loaded_at)s from changed
        ),
        upsert as (
            insert into {schema}.{table} as held ({columns})
            select {stamped} from late
            on conflict ({key}) do update set {assignments}
            where {held_values} is distinct from {excluded_values}
        )
        select replacing_file, count(*) from changed group by replacing_file
        """
    ).format(
        key=names("", key),
        columns=names("", columns),
        schema=schema,
        late_table=sql.Identifier(spec.late_name),
        table=sql.Identifier(spec.name),
        replaced_table=sql.Identifier(spec.replaced_name),
        held_columns=names("held.", columns),
        held_values=values("held."),
        late_values=values("late."),
        excluded_values=values("excluded."),
        stamped=sql.SQL(", ").join(
            sql.SQL("%(loaded_at)s") if c == "_loaded_at" else sql.Identifier(c) for c in columns
        ),
        assignments=sql.SQL(", ").join(
            sql.SQL("{} = excluded.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in rest
        ),
    )
    replaced = Counter({file: n for file, n in db.execute(query, {"loaded_at": loaded_at})})
    db.execute(sql.SQL("delete from {}.{}").format(schema, sql.Identifier(spec.late_name)))
    return replaced


def table_columns(db: Any, dataset: str, table: str) -> list[str]:
    """The columns of a table as the database has them, in order."""
    query = (
        "select column_name from information_schema.columns "
        "where table_schema = %s and table_name = %s order by ordinal_position"
    )
    return [row[0] for row in db.execute(query, (dataset, table))]
