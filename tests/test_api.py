"""`gridhouse api` against real databases: the fixtures' warehouse (circuits, meters, batteries, alerts)
and a one-day simulated device fleet (homes). Every answer is checked against a value computed here from
the vendor files or the simulator's truth, or against `gridhouse usage` and the marts read as the
superuser; bad input is a 422 naming the parameter; lists page; the API reads as bi_reader and alerting."""

from __future__ import annotations

import json
import re
import warnings
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import FIXTURES, new_database, rows

from ingest import usage
from ingest.api import MAX_LIMIT, Readers, create_app
from ingest.db import Connection, EmbeddedServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx
    from fastapi.testclient import TestClient

HOUR = ("2024-04-01T00:00:00Z", "2024-04-01T01:00:00Z")
HEERLEN = "200e55ab-790b-4049-bf23-f84dc866dd32"


def readers_of(server: EmbeddedServer, warehouse: Connection) -> Readers:
    def role(name: str) -> Connection:
        return Connection(warehouse.host, warehouse.port, name, server.password(name), warehouse.dbname)

    return Readers(role("bi_reader"), role("alerting"))


@pytest.fixture(scope="module")
def readers(server, fixture_warehouse):
    readers = readers_of(server, fixture_warehouse)
    yield readers
    readers.close()


@pytest.fixture(scope="module")
def client(readers) -> TestClient:
    return TestClient(create_app(readers))


def get(client: TestClient, url: str, status: int = 200, **params) -> dict:
    response = client.get(url, params=params)
    assert response.status_code == status, response.text
    return response.json()


def every(client: TestClient, url: str, limit: int = MAX_LIMIT, **params) -> list[dict]:
    """Every item of a list, page by page."""
    items: list[dict] = []
    offset: int | None = 0
    while offset is not None:
        page = get(client, url, limit=limit, offset=offset, **params)
        assert page["limit"] == limit and page["offset"] == offset
        assert len(page["items"]) == limit or page["next_offset"] is None
        items += page["items"]
        offset = page["next_offset"]
    return items


# -- connecting ---------------------------------------------------------------------------------------------
def test_reads_as_the_reader_roles_never_the_superuser(client, readers, fixture_warehouse):
    status = get(client, "/status")
    assert status == {"role": "bi_reader", "database": fixture_warehouse.dbname, "alerts": True}
    assert readers.rows("select current_user as u", {}, "alerting") == [{"u": "alerting"}]
    # Every session may only read, whatever its grants.
    (row,) = readers.rows("show default_transaction_read_only", {})
    assert row["default_transaction_read_only"] == "on"


def test_openapi_docs_list_every_endpoint(client):
    assert client.get("/docs").status_code == 200
    paths = get(client, "/openapi.json")["paths"]
    for path in (
        "/usage/circuit",
        "/usage/org",
        "/meters/{meter_id}/days",
        "/meters/{meter_id}/tariffs",
        "/meters/{meter_id}/load-profile",
        "/homes/summary",
        "/fleet/now",
        "/batteries/{asset_id}/telemetry",
        "/batteries/{asset_id}/daily",
        "/batteries/{asset_id}/health",
        "/alerts",
    ):
        assert path in paths


def assert_same(got: dict, want: dict) -> None:
    """Equal keys and values, floats within 1e-9 (the hourly mart sums the holds in another order)."""
    assert set(got) == set(want)
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        else:
            assert got[key] == value, key


# -- circuits and organisations -------------------------------------------------------------------------------
def fixture_circuit_wh() -> dict[tuple[str, int], tuple[float, int]]:
    """Energy (Wh) and samples per (duid, circuit) over the fixture's hour, by hand: each sample's power
    held until the next one (gaps over 15 minutes and the last sample count nothing)."""
    samples = defaultdict(list)
    for r in json.loads((FIXTURES / "circuits" / "mock_timeseries.json").read_text()):
        at = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))
        samples[(r["duid"], r["circuit_number"])].append((at, r["power_watts"]))
    out = {}
    for key, points in samples.items():
        points.sort()
        wh = 0.0
        for (at, watts), (nxt, _) in zip(points, points[1:], strict=False):
            seconds = (nxt - at).total_seconds()
            wh += watts * seconds / 3600.0 if seconds <= 900 else 0.0
        out[key] = (wh, len(points))
    return out


def test_circuit_usage_equals_the_files_and_gridhouse_usage(client, fixture_warehouse):
    by_hand = fixture_circuit_wh()
    assert len(by_hand) == 36
    for (duid, number), (wh, samples) in by_hand.items():
        got = get(client, "/usage/circuit", sensor=duid, number=number, **{"from": HOUR[0], "to": HOUR[1]})
        assert got["energy_kwh"] == pytest.approx(wh / 1000.0, rel=1e-9)
        assert got["mean_power_w"] == pytest.approx(wh, rel=1e-9)  # over one hour
        assert got["samples"] == samples
        cli = usage.circuit_usage(fixture_warehouse, duid, number, *HOUR)  # the holds, as the superuser
        assert_same(got, cli)


def test_org_usage_equals_the_sum_of_its_circuits_and_gridhouse_usage(client, fixture_warehouse):
    by_hand = fixture_circuit_wh()
    circuits = every(client, "/circuits", limit=10)
    assert len(circuits) == 36 == len({c["circuit_id"] for c in circuits})
    orgs = every(client, "/organizations", limit=2)
    assert len(orgs) == 3
    day = {"from": "2024-04-01T00:00:00Z", "to": "2024-04-02T00:00:00Z"}
    for org in orgs:
        mine = [c for c in circuits if c["organization_id"] == org["organization_id"]]
        wh = sum(by_hand[(c["duid"], c["circuit_number"])][0] for c in mine)
        got = get(client, "/usage/org", org=org["organization_id"], **day)
        assert got["total_energy_kwh"] == pytest.approx(wh / 1000.0, rel=1e-9)
        assert got["avg_energy_kwh_per_circuit"] == pytest.approx(wh / 1000.0 / len(mine), rel=1e-9)
        assert got["total_mean_power_w"] == pytest.approx(wh / 24.0, rel=1e-9)
        assert got["circuits"] == got["circuits_total"] == len(mine)
        cli = usage.org_usage(fixture_warehouse, org["organization_id"], day["from"], day["to"])
        assert_same(got, cli)


@pytest.mark.parametrize(
    ("url", "params", "parameter"),
    [
        ("/usage/circuit", {"sensor": "5A09555751350906", "number": "one"}, "number"),
        ("/usage/circuit", {"sensor": "5A09555751350906", "number": 1, "from": "yesterday"}, "from"),
        (
            "/usage/circuit",
            {"sensor": "5A09555751350906", "number": 1, "from": "2024-04-01T00:30:00Z"},
            "from",
        ),
        ("/usage/circuit", {"sensor": "5A09555751350906", "number": 1, "to": "2024-03-01T00:00:00Z"}, "to"),
        ("/usage/circuit", {"number": 1}, "sensor"),
        ("/usage/org", {"org": "x", "from": None}, "from"),
        ("/circuits", {"limit": MAX_LIMIT + 1}, "limit"),
        ("/circuits", {"offset": -1}, "offset"),
        ("/homes/summary", {"grain": "year"}, "grain"),
        ("/meters/m/days", {"from": "2023-02-30"}, "from"),
        (f"/batteries/{HEERLEN}/telemetry", {"from": HOUR[0]}, "to"),
    ],
)
def test_bad_input_is_a_422_naming_the_parameter(client, url, params, parameter):
    query = {"from": HOUR[0], "to": HOUR[1], **params} if "usage" in url else params
    response = client.get(url, params={k: v for k, v in query.items() if v is not None})
    assert response.status_code == 422, response.text
    assert [e["loc"][-1] for e in response.json()["detail"]] == [parameter]


def test_unknown_ids_are_404_naming_them(client):
    for url, params, name in (
        ("/usage/circuit", {"sensor": "nope", "number": 1, "from": HOUR[0], "to": HOUR[1]}, "sensor 'nope'"),
        ("/usage/org", {"org": "nope", "from": HOUR[0], "to": HOUR[1]}, "org 'nope'"),
        ("/meters/nope/days", {}, "meter_id 'nope'"),
        ("/batteries/nope/daily", {}, "asset_id 'nope'"),
    ):
        response = client.get(url, params=params)
        assert response.status_code == 404 and name in response.json()["detail"], response.text


# -- meters ---------------------------------------------------------------------------------------------------
def fixture_meter_days() -> dict[str, dict[str, dict[str, float]]]:
    """kWh per meter, Europe/Zurich day of the interval start and direction, by hand from the files."""
    zurich = ZoneInfo("Europe/Zurich")
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    for path in (FIXTURES / "meters").glob("*.json"):
        for r in json.loads(path.read_text())["data"]:
            day = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).astimezone(zurich).date()
            for code, direction in (("0100011D00FF", "import_kwh"), ("0100021D00FF", "export_kwh")):
                if code in r:
                    out[r["tags"]["muid"]][day.isoformat()][direction] += r[code]
    return out


def test_meter_days_tariffs_and_load_profile_equal_the_files(client, fixture_warehouse):
    by_hand = fixture_meter_days()
    meters = every(client, "/meters")
    assert {m["meter_id"] for m in meters} == set(by_hand)
    for meter, days in by_hand.items():
        got = {d["local_date"]: d for d in every(client, f"/meters/{meter}/days", limit=7)}
        assert set(got) == set(days)
        for day, directions in days.items():
            for direction, kwh in directions.items():
                assert got[day][direction] == pytest.approx(kwh, rel=1e-9, abs=1e-12), (meter, day)
        window = get(client, f"/meters/{meter}/days", **{"from": "2023-02-10", "to": "2023-02-12"})
        assert [d["local_date"] for d in window["items"]] == ["2023-02-10", "2023-02-11", "2023-02-12"]
        # The tariff windows split each day: their sums are the day.
        split = defaultdict(float)
        for t in every(client, f"/meters/{meter}/tariffs", limit=50):
            split[t["local_date"]] += t["export_kwh"] if meter.startswith("1db7649e") else t["import_kwh"]
        direction = "export_kwh" if meter.startswith("1db7649e") else "import_kwh"
        assert split == pytest.approx({d: v[direction] for d, v in days.items()}, rel=1e-9, abs=1e-12)
        profile = every(client, f"/meters/{meter}/load-profile")
        want = rows(
            fixture_warehouse,
            "select local_weekday, quarter_hour, mean_import_kwh, mean_export_kwh from marts.fct_meter_load_profile "
            "where meter_id = %s order by 1, 2",
            (meter,),
        )
        assert [
            (p["local_weekday"], p["quarter_hour"], p["mean_import_kwh"], p["mean_export_kwh"])
            for p in profile
        ] == want
        assert len(profile) == 7 * 96


# -- batteries and alerts ---------------------------------------------------------------------------------------
def test_battery_telemetry_equals_the_file_page_by_page(client):
    series = json.loads((FIXTURES / "batteries" / "telemetry" / f"{HEERLEN}.json").read_text())["series"]
    want = sorted(
        (datetime.fromtimestamp(ms / 1000, UTC), s["name"], float(v)) for s in series for ms, v in s["data"]
    )
    window = {"from": "2025-02-06T00:00:00Z", "to": "2025-02-07T00:00:00Z"}
    got = every(client, f"/batteries/{HEERLEN}/telemetry", limit=20, **window)
    assert len(got) == len(want) == 75
    assert [
        (datetime.fromisoformat(p["measured_at"].replace("Z", "+00:00")), p["metric"], p["value"])
        for p in got
    ] == want
    soc = get(client, f"/batteries/{HEERLEN}/telemetry", metric="StateOfChargePercentage", **window)
    assert [p["value"] for p in soc["items"]] == [v for _, m, v in want if m == "StateOfChargePercentage"]
    # [from, to): a window ending at the first point holds nothing.
    empty = get(
        client, f"/batteries/{HEERLEN}/telemetry", **{"from": window["from"], "to": want[0][0].isoformat()}
    )
    assert empty["items"] == []


def test_battery_list_daily_and_health_equal_the_marts(client, fixture_warehouse):
    assets = json.loads((FIXTURES / "batteries" / "assets" / "assets.json").read_text())["items"]
    listed = every(client, "/batteries", limit=1)
    assert [b["asset_id"] for b in listed] == sorted(a["deviceId"] for a in assets)
    for asset in (b["asset_id"] for b in listed):
        daily = every(client, f"/batteries/{asset}/daily")
        want = rows(
            fixture_warehouse,
            "select day_utc::text, efc, soc_min_pct, soc_max_pct from marts.fct_battery_daily "
            "where asset_id = %s order by 1",
            (asset,),
        )
        assert [(d["day_utc"], d["efc"], d["soc_min_pct"], d["soc_max_pct"]) for d in daily] == want
        health = every(client, f"/batteries/{asset}/health")
        want = rows(
            fixture_warehouse,
            "select day_utc::text, soh_pct from marts.fct_battery_health where asset_id = %s order by 1",
            (asset,),
        )
        assert [(h["day_utc"], h["soh_pct"]) for h in health] == want
    # Heerlen's SoC went from 95 to 81 on its one day (the fixture's README).
    (day,) = every(client, f"/batteries/{HEERLEN}/daily", **{"from": "2025-02-06", "to": "2025-02-06"})
    assert (day["soc_start_pct"], day["soc_end_pct"], day["soc_min_pct"]) == (95, 81, 81)


def test_alerts_are_every_alert_view_read_as_alerting(client, fixture_warehouse):
    views = [
        v
        for (v,) in rows(
            fixture_warehouse, "select table_name from information_schema.views where table_schema = 'alerts'"
        )
    ]
    assert len(views) >= 4
    want = sorted(
        (v, alert_id)
        for v in views
        for (alert_id,) in rows(fixture_warehouse, f"select alert_id from alerts.{v}")  # noqa: S608
    )
    got = every(client, "/alerts", limit=1)
    assert sorted((a["alert"], a["alert_id"]) for a in got) == want
    # Utrecht and Zwolle are in state Warning (the fixture's README); Zwolle has no SoC series.
    warnings_ = {a["description"] for a in got if a["alert"] == "battery_vendor_warning"}
    assert {"Fudura Utrecht", "Fudura Zwolle"} <= warnings_
    assert {a["description"] for a in got if a["alert"] == "battery_no_soc"} == {"Fudura Zwolle"}
    only = get(client, "/alerts", severity="no-such-severity")
    assert only["items"] == []


def test_a_mart_that_is_not_built_is_a_503_saying_so(server, fresh_db):
    with fresh_db.connect(autocommit=True) as db:
        db.execute("create schema marts")
        db.execute("grant usage on schema marts to bi_reader")
    readers = Readers(readers_of(server, fresh_db).pools["bi_reader"].target)
    try:
        response = TestClient(create_app(readers)).get("/batteries")
        assert response.status_code == 503
        assert re.search(r"dim_batteries.*gridhouse build", response.json()["detail"])
        assert TestClient(create_app(readers)).get("/alerts").status_code == 503  # no alerting connection
    finally:
        readers.close()


# -- homes (a simulated device fleet) ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def device_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator import simulate

    out = tmp_path_factory.mktemp("api-devices")
    simulate(out, seed=7, preset="small", families="devices", start="2024-03-30", days=1)
    return out


@pytest.fixture(scope="module")
def device_client(server, device_fleet):
    from ingest.build import run_dbt
    from ingest.pipeline import load

    conn = new_database(server, "api_devices")
    load("devices", device_fleet / "devices", conn)
    result = run_dbt(
        conn,
        ["build", "--select", "+fct_home_energy_summary +fleet_energy_now", "--exclude", "test_type:unit"],
    )
    assert result.success, dict(result.statuses)
    readers = readers_of(server, conn)
    yield conn, TestClient(create_app(readers))
    readers.close()


def test_home_summaries_equal_the_simulators_truth(device_client, device_fleet):
    conn, client = device_client
    zones = {
        d["home_id"]: d["timezone"]
        for d in json.loads((device_fleet / "devices" / "devices.json").read_text())
    }
    truth: dict = defaultdict(lambda: defaultdict(float))
    with (device_fleet / "truth" / "home_hourly.csv").open() as f:
        import csv

        for r in csv.DictReader(f):
            hour = datetime.fromisoformat(r["hour_utc"].replace("Z", "+00:00"))
            for grain, key in (
                ("hour", hour),
                ("day", hour.astimezone(ZoneInfo(zones[r["home_id"]])).date()),
            ):
                for k in ("produced_kwh", "consumed_kwh"):
                    truth[(grain, r["home_id"], key)][k] += float(r[k])
    for grain in ("hour", "day"):
        got = every(client, "/homes/summary", grain=grain)
        assert got
        for s in got:
            start = datetime.fromisoformat(s["period_start"].replace("Z", "+00:00"))
            key = start if grain == "hour" else datetime.fromisoformat(s["local_date"]).date()
            want = truth[(grain, s["home_id"], key)]
            assert s["produced_kwh"] == pytest.approx(want["produced_kwh"], rel=0.005, abs=1e-9)
            assert s["consumed_kwh"] == pytest.approx(want["consumed_kwh"], rel=0.005, abs=1e-9)
    home = got[0]["home_id"]
    one = every(client, "/homes/summary", grain="hour", home_id=home, **{"from": "2024-03-30T06:00:00Z"})
    assert {s["home_id"] for s in one} == {home}
    assert min(s["period_start"] for s in one) >= "2024-03-30T06:00:00Z"
    want = rows(conn, "select count(*) from marts.fct_home_energy_summary where grain = 'week'")[0][0]
    assert len(every(client, "/homes/summary", grain="week")) == want > 0


def test_fleet_now_equals_the_mart(device_client):
    conn, client = device_client
    got = every(client, "/fleet/now", limit=3)
    want = rows(
        conn, "select scope, home_id, net_w from marts.fleet_energy_now order by scope, home_id nulls first"
    )
    assert [(f["scope"], f["home_id"], f["net_w"]) for f in got] == want
    (fleet,) = [f for f in got if f["scope"] == "fleet"]
    homes = [f for f in got if f["scope"] != "fleet"]
    assert fleet["net_w"] == pytest.approx(sum(h["net_w"] for h in homes), rel=1e-9, abs=1e-9)
