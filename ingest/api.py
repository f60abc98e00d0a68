"""`gridhouse api`: a read-only HTTP API over the marts (FastAPI; OpenAPI docs at /docs).

It connects as the reader roles, never as the superuser: ``bi_reader`` (schema ``marts`` only) for every
endpoint, ``alerting`` (schema ``alerts`` only) for /alerts. Every value from a request is a bound
parameter (psycopg); relation and column names are constants here. Every query runs through
``Readers.rows``. Lists page with ``limit`` (at most MAX_LIMIT) and ``offset`` and say ``next_offset``.

Circuit and organisation usage are `gridhouse usage`'s questions (ingest/usage.py) answered from the hourly
mart, so their windows are whole UTC hours; bad input is a 422 whose ``loc`` names the parameter.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from psycopg import sql
from psycopg.rows import dict_row

from ingest import db, usage
from ingest.errors import GridhouseError

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
# Each connection may only read, and no query runs longer than this (ms).
SESSION_OPTIONS = "-c default_transaction_read_only=on -c statement_timeout=30000"


class Unavailable(Exception):
    """The database cannot answer (a mart not built, no privilege): HTTP 503."""


class Pool:
    """A few open connections of one role, reused across requests (a connection costs a SCRAM handshake)."""

    def __init__(self, target: db.Connection, size: int = 8) -> None:
        self.target = target
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._size = size

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self.target.connect(autocommit=True, options=SESSION_OPTIONS)
        try:
            yield conn
        finally:
            if conn.closed or conn.broken or self._idle.qsize() >= self._size:
                conn.close()
            else:
                self._idle.put(conn)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


class Readers:
    """The API's connections: bi_reader for the marts, alerting for the alert views."""

    def __init__(self, bi_reader: db.Connection, alerting: db.Connection | None = None) -> None:
        self.pools = {"bi_reader": Pool(bi_reader)}
        if alerting is not None:
            self.pools["alerting"] = Pool(alerting)

    def rows(
        self, query: str | sql.Composable, params: dict[str, Any], role: str = "bi_reader"
    ) -> list[dict]:
        """The one place a query runs: its rows as dicts."""
        if role not in self.pools:
            raise Unavailable(f"the API has no connection as role {role}")
        try:
            with self.pools[role].connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
                cursor.execute(query, params)
                return list(cursor.fetchall())
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName) as exc:
            raise Unavailable(
                f"{exc.diag.message_primary}: the marts are not built here; run `gridhouse build`"
            ) from None
        except psycopg.errors.InsufficientPrivilege as exc:
            raise Unavailable(f"role {role} may not read this: {exc.diag.message_primary}") from None
        except GridhouseError as exc:  # cannot connect
            raise Unavailable(str(exc)) from None

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()


def reader_connections() -> tuple[db.Connection, db.Connection]:
    """bi_reader's and alerting's connections to the warehouse `gridhouse` commands use (GRIDHOUSE_TENANT's
    roles with it), with their passwords: from GRIDHOUSE_<ROLE>_PASSWORD on your own server, from the
    embedded server's password file otherwise."""
    tenant = db.current_tenant()
    given = db.user_connection()
    if given is not None:
        return tuple(  # type: ignore[return-value]
            db.Connection(
                given.host,
                given.port,
                db.reader_role(base, tenant),
                os.environ.get(db.password_variable(base), ""),
                given.dbname,
                given.sslmode,
            )
            for base in ("bi_reader", "alerting")
        )
    server = db.EmbeddedServer.default()
    if not server.is_running():
        raise GridhouseError(
            f"the embedded PostgreSQL in {server.pgdata} is not running: start it with `gridhouse db start`"
        )
    server.ensure_access(tenant, update_passwords=False)  # the roles exist with the passwords we hold
    return server.reader_connection("bi_reader", tenant), server.reader_connection("alerting", tenant)


# -- parameters ------------------------------------------------------------------------------------------
def page(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"rows per page, at most {MAX_LIMIT}")] = (
        DEFAULT_LIMIT
    ),
    offset: Annotated[int, Query(ge=0, description="rows to skip")] = 0,
) -> dict[str, int]:
    return {"limit": limit, "offset": offset}


Page = Annotated[dict[str, int], Depends(page)]
TIME = "ISO 8601; UTC when it has no zone"
From = Annotated[str, Query(alias="from", description=f"window start, {TIME}")]
To = Annotated[str, Query(alias="to", description=f"window end (exclusive), {TIME}")]
FromDate = Annotated[date | None, Query(alias="from", description="first day (inclusive)")]
ToDate = Annotated[date | None, Query(alias="to", description="last day (inclusive)")]

AssetId = Annotated[str, Path(description="the battery's asset id")]
MeterId = Annotated[str, Path(description="the meter's id")]


class Grain(StrEnum):
    hour = "hour"
    day = "day"
    week = "week"
    month = "month"


def invalid(parameter: str, message: str, where: str = "query") -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors: ``loc`` names the parameter."""
    return HTTPException(
        422, [{"type": "value_error", "loc": [where, parameter], "msg": message, "input": None}]
    )


def time(value: str | None, parameter: str) -> datetime | None:
    try:
        return None if value is None else usage.parse_time(value, parameter)
    except usage.ParameterError as exc:
        raise invalid(parameter, str(exc)) from None


def window(start: str, end: str) -> usage.Window:
    try:
        return usage.window(start, end)
    except usage.ParameterError as exc:
        raise invalid(exc.parameter, str(exc).replace("--", "")) from None


# -- the app ------------------------------------------------------------------------------------------------
def create_app(readers: Readers) -> FastAPI:
    app = FastAPI(
        title="gridhouse",
        version="1",
        description="Read-only access to the gridhouse marts and alert views (docs/api.md).",
    )

    @app.exception_handler(Unavailable)
    def unavailable(request, exc: Unavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    def listing(
        query: str | sql.Composable, params: dict[str, Any], pg: dict[str, int], role: str = "bi_reader"
    ) -> dict:
        """One page of a query that has its own stable `order by`; ``next_offset`` is null on the last."""
        query = query if isinstance(query, sql.Composable) else sql.SQL(query)
        found = readers.rows(
            query + sql.SQL(" limit %(_limit)s offset %(_offset)s"),
            {**params, "_limit": pg["limit"] + 1, "_offset": pg["offset"]},
            role,
        )
        more = len(found) > pg["limit"]
        return {
            "items": found[: pg["limit"]],
            "limit": pg["limit"],
            "offset": pg["offset"],
            "next_offset": pg["offset"] + pg["limit"] if more else None,
        }

    def known(relation: str, column: str, value: str, parameter: str) -> None:
        """404 unless ``value`` is in ``relation.column``: a wrong id is told apart from no data."""
        query = f"select 1 from marts.{relation} where {column} = %(value)s limit 1"
        if not readers.rows(query, {"value": value}):
            raise HTTPException(404, f"{parameter} {value!r} is not in marts.{relation}")

    def usage_answer(question, *args) -> dict:
        try:
            return question(readers.rows, *args, hourly=True)
        except usage.ParameterError as exc:
            message = str(exc).replace("--", "")
            if exc.parameter in ("sensor", "number", "org"):
                raise HTTPException(404, message) from None
            raise invalid(exc.parameter, message) from None

    @app.get("/status", tags=["status"])
    def status() -> dict:
        """The role and database the API reads as, and the alert views it can see."""
        (row,) = readers.rows("select current_user as role, current_database() as database", {})
        return {**row, "alerts": "alerting" in readers.pools}

    # circuits (seed 002)
    @app.get("/circuits", tags=["circuits"])
    def circuits(pg: Page, organization_id: str | None = None, sensor_id: str | None = None) -> dict:
        """The circuits with their sensor, location, organisation and brand (marts.dim_circuits)."""
        query = (
            "select * from marts.dim_circuits where (%(org)s::text is null or organization_id = %(org)s) "
            "and (%(sensor)s::text is null or sensor_id = %(sensor)s) order by sensor_id, circuit_number"
        )
        return listing(query, {"org": organization_id, "sensor": sensor_id}, pg)

    @app.get("/usage/circuit", tags=["circuits"])
    def circuit_usage(
        sensor: Annotated[str, Query(description="the sensor's id or duid")],
        number: Annotated[int, Query(description="the circuit's number on that sensor")],
        start: From,
        end: To,
    ) -> dict:
        """A circuit's energy (kWh) and mean power (W) in [from, to): `gridhouse usage circuit`, for a window
        of whole UTC hours."""
        return usage_answer(usage.circuit_usage, sensor, number, start, end)

    @app.get("/organizations", tags=["circuits"])
    def organizations(pg: Page) -> dict:
        """The organisations (marts.dim_organizations)."""
        return listing("select * from marts.dim_organizations order by organization_id", {}, pg)

    @app.get("/usage/org", tags=["circuits"])
    def org_usage(
        org: Annotated[str, Query(description="the organisation's id")], start: From, end: To
    ) -> dict:
        """An organisation's total and its average per reporting circuit in [from, to): `gridhouse usage org`,
        for a window of whole UTC hours."""
        return usage_answer(usage.org_usage, org, start, end)

    # meters (seeds 000, 001)
    @app.get("/meters", tags=["meters"])
    def meters(pg: Page) -> dict:
        """Every meter with its tenant and first and last local day (marts.fct_meter_daily)."""
        query = (
            "select meter_id, tenant_id, min(local_date) as first_date, max(local_date) as last_date, "
            "count(*) as days from marts.fct_meter_daily group by meter_id, tenant_id order by meter_id"
        )
        return listing(query, {}, pg)

    def meter_days(
        relation: str, order: str, meter_id: str, start: date | None, end: date | None, pg
    ) -> dict:
        query = (
            f"select * from marts.{relation} where meter_id = %(meter)s "
            "and (%(start)s::date is null or local_date >= %(start)s) "
            f"and (%(end)s::date is null or local_date <= %(end)s) order by {order}"
        )
        found = listing(query, {"meter": meter_id, "start": start, "end": end}, pg)
        if not found["items"] and pg["offset"] == 0:
            known("fct_meter_daily", "meter_id", meter_id, "meter_id")
        return found

    @app.get("/meters/{meter_id}/days", tags=["meters"])
    def meter_daily(meter_id: MeterId, pg: Page, start: FromDate = None, end: ToDate = None) -> dict:
        """Import, export and net kWh per local day, with completeness (marts.fct_meter_daily)."""
        return meter_days("fct_meter_daily", "local_date", meter_id, start, end, pg)

    @app.get("/meters/{meter_id}/tariffs", tags=["meters"])
    def meter_tariffs(meter_id: MeterId, pg: Page, start: FromDate = None, end: ToDate = None) -> dict:
        """Each local day split into the tariff windows (marts.fct_meter_tariff_daily)."""
        return meter_days("fct_meter_tariff_daily", "local_date, tariff_name", meter_id, start, end, pg)

    @app.get("/meters/{meter_id}/load-profile", tags=["meters"])
    def meter_load_profile(meter_id: MeterId, pg: Page) -> dict:
        """Mean kWh per weekday and quarter-hour, baseload and peak hour (marts.fct_meter_load_profile)."""
        query = (
            "select * from marts.fct_meter_load_profile where meter_id = %(meter)s "
            "order by local_weekday, quarter_hour"
        )
        found = listing(query, {"meter": meter_id}, pg)
        if not found["items"] and pg["offset"] == 0:
            known("fct_meter_daily", "meter_id", meter_id, "meter_id")
        return found

    # homes (seed 003)
    @app.get("/homes/summary", tags=["homes"])
    def home_summary(
        grain: Grain,
        pg: Page,
        home_id: str | None = None,
        start: Annotated[str | None, Query(alias="from", description=f"first period start, {TIME}")] = None,
        end: Annotated[str | None, Query(alias="to", description=f"periods starting before, {TIME}")] = None,
    ) -> dict:
        """Produced, consumed and net kWh per home and period at one grain (marts.fct_home_energy_summary)."""
        query = (
            "select * from marts.fct_home_energy_summary where grain = %(grain)s "
            "and (%(home)s::text is null or home_id = %(home)s) "
            "and (%(start)s::timestamptz is null or period_start >= %(start)s) "
            "and (%(end)s::timestamptz is null or period_start < %(end)s) order by home_id, period_start"
        )
        times = {"start": time(start, "from"), "end": time(end, "to")}
        return listing(query, {"grain": grain.value, "home": home_id, **times}, pg)

    @app.get("/fleet/now", tags=["homes"])
    def fleet_now(pg: Page) -> dict:
        """Production, consumption, net and storage now, per home and for the fleet (marts.fleet_energy_now)."""
        query = "select * from marts.fleet_energy_now order by scope, home_id nulls first"
        return listing(query, {}, pg)

    # batteries (seed 004)
    @app.get("/batteries", tags=["batteries"])
    def batteries(pg: Page) -> dict:
        """The batteries with their vendor state and first and last point (marts.dim_batteries)."""
        return listing("select * from marts.dim_batteries order by asset_id", {}, pg)

    def battery_rows(query: str, params: dict[str, Any], asset_id: str, pg) -> dict:
        found = listing(query, {"asset": asset_id, **params}, pg)
        if not found["items"] and pg["offset"] == 0:
            known("dim_batteries", "asset_id", asset_id, "asset_id")
        return found

    @app.get("/batteries/{asset_id}/telemetry", tags=["batteries"])
    def battery_telemetry(
        asset_id: AssetId, start: From, end: To, pg: Page, metric: str | None = None
    ) -> dict:
        """Every point of the battery in [from, to), one metric or all (marts.battery_telemetry)."""
        query = (
            "select * from marts.battery_telemetry where asset_id = %(asset)s "
            "and (%(metric)s::text is null or metric = %(metric)s) "
            "and measured_at >= %(start)s and measured_at < %(end)s order by measured_at, metric"
        )
        return battery_rows(query, {"metric": metric, **window(start, end).params()}, asset_id, pg)

    def battery_days(relation: str, asset_id: str, start: date | None, end: date | None, pg) -> dict:
        query = (
            f"select * from marts.{relation} where asset_id = %(asset)s "
            "and (%(start)s::date is null or day_utc >= %(start)s) "
            "and (%(end)s::date is null or day_utc <= %(end)s) order by day_utc"
        )
        return battery_rows(query, {"start": start, "end": end}, asset_id, pg)

    @app.get("/batteries/{asset_id}/daily", tags=["batteries"])
    def battery_daily(asset_id: AssetId, pg: Page, start: FromDate = None, end: ToDate = None) -> dict:
        """Energy charged and discharged, EFC, SoC and efficiency per UTC day (marts.fct_battery_daily)."""
        return battery_days("fct_battery_daily", asset_id, start, end, pg)

    @app.get("/batteries/{asset_id}/health", tags=["batteries"])
    def battery_health(asset_id: AssetId, pg: Page, start: FromDate = None, end: ToDate = None) -> dict:
        """Capacity, state of health, fade and the projected 80 % date per UTC day (marts.fct_battery_health)."""
        return battery_days("fct_battery_health", asset_id, start, end, pg)

    # alerts (seed 004), read as role alerting
    @app.get("/alerts", tags=["alerts"])
    def alerts(pg: Page, severity: str | None = None) -> dict:
        """The open alerts of every view in schema alerts (the columns they share), newest first."""
        views = readers.rows(
            "select table_name from information_schema.views where table_schema = 'alerts' order by 1",
            {},
            "alerting",
        )
        if not views:
            return {"items": [], "limit": pg["limit"], "offset": pg["offset"], "next_offset": None}
        union = sql.SQL(" union all ").join(
            sql.SQL(
                "select {name} as alert, alert_id, asset_id, description, severity, value, threshold, since, "
                "last_seen, message from alerts.{view}"
            ).format(name=sql.Literal(v["table_name"]), view=sql.Identifier(v["table_name"]))
            for v in views
        )
        query = sql.SQL(
            "select * from ({union}) as a where (%(severity)s::text is null or severity = %(severity)s) "
            "order by since desc, alert, alert_id"
        ).format(union=union)
        return listing(query, {"severity": severity}, pg, "alerting")

    return app


def serve(host: str, port: int) -> None:
    """`gridhouse api`: serve until interrupted."""
    import uvicorn

    bi_reader, alerting = reader_connections()
    readers = Readers(bi_reader, alerting)
    readers.rows("select 1", {})  # a wrong password or a stopped server fails here, as one line
    try:
        uvicorn.run(create_app(readers), host=host, port=port, log_level="info")
    finally:
        readers.close()
