"""The seed's parameterised questions (seed 002): `gridhouse usage circuit|org`.

- circuit: total usage of one circuit (sensor id or duid + circuit number) in the window [from, to);
- org: one organisation's total over the window and the average per reporting circuit.

Energy comes from intermediate.int_circuits__power_holds, the power samples with the hold each one
carries (last value carried forward, gaps longer than 15 minutes contribute nothing; the rule lives in
macros/energy/held_power.sql), clipped to the window. Mean power is the energy spread over the window's
length (W). Every value from the user is a bound parameter; bad input raises ParameterError (a
GridhouseError) naming the parameter.

With ``hourly=True`` the same figures come from marts.fct_circuit_usage_hourly, for windows of whole UTC
hours: the hours split each hold at their boundaries, so their sums are the holds clipped to the window.
That is what a reader of the marts alone (role bi_reader, the HTTP API in ingest/api.py) can answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ingest.db import Connection
from ingest.errors import GridhouseError

# The clip of a hold [held_from, held_until) to the window [%(start)s, %(end)s), in seconds
# (macros/energy/held_power.sql: hold_seconds_within).
CLIPPED_SECONDS = (
    "greatest(extract(epoch from (least(h.held_until, %(end)s) - greatest(h.held_from, %(start)s))), 0)"
)

CIRCUIT_SQL = f"""
select
    count(*) filter (where h.held_from >= %(start)s and h.held_from < %(end)s) as samples,
    coalesce(sum(h.power_w * {CLIPPED_SECONDS}) filter (where h.held_until is not null), 0) / 3600.0
        as energy_wh,
    coalesce(sum({CLIPPED_SECONDS}) filter (where h.held_until is not null), 0) as covered_seconds
from intermediate.int_circuits__power_holds as h
where
    h.circuit_id = %(circuit_id)s
    and h.held_from < %(end)s
    and (h.held_from >= %(start)s or h.held_until > %(start)s)
"""

ORG_SQL = f"""
select
    h.circuit_id,
    count(*) filter (where h.held_from >= %(start)s and h.held_from < %(end)s) as samples,
    coalesce(sum(h.power_w * {CLIPPED_SECONDS}) filter (where h.held_until is not null), 0) / 3600.0
        as energy_wh
from intermediate.int_circuits__power_holds as h
where
    h.organization_id = %(organization_id)s
    and h.held_from < %(end)s
    and (h.held_from >= %(start)s or h.held_until > %(start)s)
group by h.circuit_id
"""

# The same two questions from the hourly mart, for windows of whole hours (bi_reader may read it).
CIRCUIT_HOURLY_SQL = """
select
    coalesce(sum(u.samples), 0) as samples,
    coalesce(sum(u.energy_wh order by u.hour_start), 0) as energy_wh,
    coalesce(sum(u.covered_seconds order by u.hour_start), 0) as covered_seconds
from marts.fct_circuit_usage_hourly as u
where u.circuit_id = %(circuit_id)s and u.hour_start >= %(start)s and u.hour_start < %(end)s
"""

ORG_HOURLY_SQL = """
select
    u.circuit_id,
    sum(u.samples) as samples,
    sum(u.energy_wh order by u.hour_start) as energy_wh
from marts.fct_circuit_usage_hourly as u
where u.organization_id = %(organization_id)s and u.hour_start >= %(start)s and u.hour_start < %(end)s
group by u.circuit_id
"""

# Runs one query with bound parameters and returns its rows as dicts (the API passes its own).
Query = Callable[[str, dict[str, Any]], list[dict[str, Any]]]

CIRCUIT_LINKS = (
    "circuit_id",
    "sensor_id",
    "duid",
    "circuit_number",
    "circuit_name",
    "sensor_name",
    "location_id",
    "location_name",
    "organization_id",
    "organization_name",
    "brand_id",
    "brand_name",
)


class ParameterError(GridhouseError):
    """Bad input; ``parameter`` names it without the CLI's dashes (``from``, ``sensor``, ...)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    def params(self) -> dict[str, datetime]:
        return {"start": self.start, "end": self.end}

    def as_json(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def parse_time(value: str, parameter: str) -> datetime:
    """An ISO 8601 time; without a zone it is taken as UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ParameterError(
            parameter.lstrip("-"),
            f"{parameter} {value!r} is not an ISO 8601 time; use e.g. 2024-04-01T00:00:00Z",
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def window(start: str, end: str, whole_hours: bool = False) -> Window:
    w = Window(parse_time(start, "--from"), parse_time(end, "--to"))
    if w.end <= w.start:
        raise ParameterError(
            "to", f"--to {end!r} is not after --from {start!r}: the window is [from, to), give a later --to"
        )
    for name, value, at in (("from", start, w.start), ("to", end, w.end)):
        if whole_hours and at.timestamp() % 3600:
            raise ParameterError(
                name,
                f"--{name} {value!r} is not a whole UTC hour: the hourly mart answers windows of whole hours",
            )
    return w


def _query(conn: Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        with conn.connect() as db, db.cursor(row_factory=dict_row) as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    except psycopg.errors.UndefinedTable:
        raise GridhouseError(
            "the circuit models are not built in this database: run `gridhouse load circuits <folder>` "
            "and `gridhouse build` first"
        ) from None


def _runner(conn: Connection | Query) -> Query:
    return partial(_query, conn) if isinstance(conn, Connection) else conn


def _find_circuit(query: Query, sensor: str, number: int) -> dict[str, Any]:
    columns = ", ".join(CIRCUIT_LINKS)
    sensors = query(
        "select sensor_id from marts.dim_sensors where sensor_id = %(sensor)s or lower(duid) = lower(%(sensor)s)",
        {"sensor": sensor},
    )
    if not sensors:
        raise ParameterError(
            "sensor",
            f"--sensor {sensor!r} is neither a sensor id nor a duid in marts.dim_sensors; "
            "list them with: select sensor_id, duid, sensor_name from marts.dim_sensors",
        )
    found = query(
        f"select {columns} from marts.dim_circuits where sensor_id = %(sensor_id)s "
        "and circuit_number = %(number)s",
        {"sensor_id": sensors[0]["sensor_id"], "number": number},
    )
    if not found:
        numbers = query(
            "select circuit_number from marts.dim_circuits where sensor_id = %(sensor_id)s order by 1",
            {"sensor_id": sensors[0]["sensor_id"]},
        )
        known = ", ".join(str(r["circuit_number"]) for r in numbers) or "none"
        raise ParameterError(
            "number", f"--number {number}: sensor {sensor!r} has no such circuit (it has: {known})"
        )
    return found[0]


def circuit_usage(
    conn: Connection | Query, sensor: str, number: int, start: str, end: str, hourly: bool = False
) -> dict[str, Any]:
    """Energy (kWh) and mean power (W) of one circuit in [start, end), with its metadata ids and names;
    ``hourly``: from the hourly mart, for a window of whole hours."""
    query = _runner(conn)
    w = window(start, end, whole_hours=hourly)
    circuit = _find_circuit(query, sensor, number)
    sql = CIRCUIT_HOURLY_SQL if hourly else CIRCUIT_SQL
    (row,) = query(sql, {"circuit_id": circuit["circuit_id"], **w.params()})
    if row["samples"] == 0 and row["covered_seconds"] == 0:
        raise ParameterError(
            "from",
            f"--from {start!r} / --to {end!r}: circuit {number} of sensor {sensor!r} has no power samples "
            "in that window; widen it or check the circuit's data",
        )
    energy_wh = float(row["energy_wh"])
    covered_h = float(row["covered_seconds"]) / 3600.0
    return {
        **circuit,
        **w.as_json(),
        "energy_kwh": energy_wh / 1000.0,
        "mean_power_w": energy_wh / w.hours,
        "samples": int(row["samples"]),
        "covered_hours": covered_h,
        "coverage_pct": 100.0 * covered_h / w.hours,
    }


def org_usage(
    conn: Connection | Query, organization: str, start: str, end: str, hourly: bool = False
) -> dict[str, Any]:
    """An organisation's total energy and mean power in [start, end) and the average per reporting circuit;
    ``hourly``: from the hourly mart, for a window of whole hours."""
    query = _runner(conn)
    w = window(start, end, whole_hours=hourly)
    orgs = query(
        "select organization_id, organization_name, brand_id, brand_name from marts.dim_organizations "
        "where organization_id = %(org)s",
        {"org": organization},
    )
    if not orgs:
        raise ParameterError(
            "org",
            f"--org {organization!r} is not an organization id in marts.dim_organizations; "
            "list them with: select organization_id, organization_name from marts.dim_organizations",
        )
    org = orgs[0]
    sql = ORG_HOURLY_SQL if hourly else ORG_SQL
    per_circuit = query(sql, {"organization_id": org["organization_id"], **w.params()})
    reporting = [r for r in per_circuit if r["samples"] > 0]
    if not reporting:
        raise ParameterError(
            "from",
            f"--from {start!r} / --to {end!r}: no circuit of organization {organization!r} has power samples "
            "in that window; widen it or check the organization's data",
        )
    total_wh = sum(float(r["energy_wh"]) for r in per_circuit)
    total_w = total_wh / w.hours
    circuits_total = query(
        "select count(*) as n from marts.dim_circuits where organization_id = %(org)s",
        {"org": org["organization_id"]},
    )[0]["n"]
    return {
        **org,
        **w.as_json(),
        "total_energy_kwh": total_wh / 1000.0,
        "total_mean_power_w": total_w,
        "circuits": len(reporting),
        "circuits_total": int(circuits_total),
        "avg_energy_kwh_per_circuit": total_wh / 1000.0 / len(reporting),
        "avg_power_w_per_circuit": total_w / len(reporting),
        "circuit_ids": sorted(r["circuit_id"] for r in reporting),
    }


def render(result: dict[str, Any], fmt: str, title: str) -> None:
    """Print one result: a two-column table, or one JSON object on stdout."""
    if fmt == "json":
        print(json.dumps(result, ensure_ascii=False, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in result.items():
        if isinstance(value, float):
            text = f"{value:,.3f}"
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        else:
            text = "" if value is None else str(value)
        table.add_row(key, text)
    Console().print(table)
