"""Tenants over REST as from a folder: the API's tenants.csv (GET <base>/meters/tenants.csv) decides which
meters a tenant's database takes in, exactly as the folder's does; a tenant field that is not a string is
one quarantined record, never an aborted load."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import new_database, rows
from loader_trees import meter_record, write_json

from ingest.pipeline import load

server_module = pytest.importorskip("simulator.server")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator import simulate

    out = tmp_path_factory.mktemp("rest-tenants")
    simulate(out, seed=4, preset="small", families="meters", tenants=2)
    return out


@pytest.fixture(scope="module")
def api(fleet: Path) -> Iterator[str]:
    server, base_url = server_module.serve_in_thread(fleet)
    yield base_url
    server.stop()


def owners(fleet: Path) -> dict[str, str]:
    with (fleet / "meters" / "tenants.csv").open() as f:
        return {r["muid"]: r["tenant"] for r in csv.DictReader(f)}


def held(conn) -> tuple[list[tuple], list[tuple]]:
    readings = rows(
        conn, "select muid, obis_code, measured_at, value, quality from raw_meters.readings order by 1, 2, 3"
    )
    tenants = rows(conn, "select muid, tenant_id from raw_meters.tenants order by 1")
    return readings, tenants


@pytest.mark.parametrize("tenant", ["tenant-01", "tenant-02", None])
def test_rest_applies_tenants_csv_as_the_folder_does(
    server, fleet: Path, api: str, tenant, monkeypatch
) -> None:
    if tenant is not None:
        monkeypatch.setenv("GRIDHOUSE_TENANT", tenant)
    else:
        monkeypatch.delenv("GRIDHOUSE_TENANT", raising=False)
    slug = (tenant or "all").replace("-", "_")
    from_folder, from_api = (
        new_database(server, f"tenants_folder_{slug}"),
        new_database(server, f"tenants_api_{slug}"),
    )
    folder_report = load("meters", fleet / "meters", from_folder)
    api_report = load("meters", api, from_api)

    assert held(from_api) == held(from_folder)
    readings, tenants = held(from_api)
    mine = {m for m, t in owners(fleet).items() if tenant is None or t == tenant}
    assert {r[0] for r in readings} == mine
    assert len(mine) < len(owners(fleet)) if tenant else len(mine) == len(owners(fleet))
    assert tenants == sorted((m, owners(fleet)[m]) for m in mine)
    assert (api_report.read, api_report.loaded, api_report.quarantined) == (
        folder_report.read,
        folder_report.loaded,
        folder_report.quarantined,
    )
    assert api_report.files[-1].file == f"{api}/meters/tenants.csv"
    assert api_report.files[-1].loaded == len(mine)


def test_rest_without_tenants_csv_loads_every_meter(fresh_db, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GRIDHOUSE_TENANT", raising=False)
    write_json(tmp_path / "meters" / "a.json", {"data": [meter_record("m1", "2023-03-01T00:00:00Z", 1.0)]})
    server, base_url = server_module.serve_in_thread(tmp_path)
    try:
        report = load("meters", base_url, fresh_db)
    finally:
        server.stop()
    assert [(f.file, f.read, f.loaded) for f in report.files] == [(f"{base_url}/meters/a.json", 1, 1)]
    assert rows(fresh_db, "select count(*) from raw_meters.tenants") == [(0,)]


@pytest.mark.parametrize("muid", [["m1"], {"id": "m1"}, 7, None])
def test_a_tenant_field_that_is_not_a_string_is_one_quarantined_record(
    fresh_db, tmp_path: Path, monkeypatch, muid
) -> None:
    monkeypatch.setenv("GRIDHOUSE_TENANT", "tenant-01")
    (tmp_path / "meters").mkdir()
    (tmp_path / "meters" / "tenants.csv").write_text("muid,tenant\nm1,tenant-01\nm2,tenant-02\n")
    stamps = [f"2023-03-01T00:{m:02d}:00Z" for m in (0, 15, 30, 45)]
    records = [meter_record("m1", t, 1.0) for t in stamps] + [meter_record("m2", t, 2.0) for t in stamps]
    bad = meter_record("m1", "2023-03-01T01:00:00Z", 3.0)
    bad["tags"]["muid"] = muid
    records.insert(2, bad)
    text = json.dumps({"data": records})
    (tmp_path / "meters" / "a.json").write_text(text)

    report = load("meters", tmp_path / "meters", fresh_db)
    by_file = {f.file: (f.read, f.loaded, f.quarantined) for f in report.files}
    # m2's records are another tenant's: not read; the bad record is read and quarantined
    assert by_file == {"meters/a.json": (len(stamps) + 1, len(stamps), 1), "meters/tenants.csv": (1, 1, 0)}
    assert rows(fresh_db, "select distinct muid from raw_meters.readings") == [("m1",)]
    [(position, field, reason, raw)] = rows(
        fresh_db, "select position, field, reason, raw_text from raw_meters.quarantine"
    )
    assert (position, field) == ("data[2].0100011D00FF", "tags.muid")
    assert "tags.muid" in reason
    assert json.loads(raw) == bad


def test_rest_whose_tenant_map_fails_loads_nothing(fresh_db, tmp_path: Path, monkeypatch) -> None:
    """An API that has a tenants.csv but fails to serve it: the load stops (one line) rather than take
    in every tenant's meters."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ingest.errors import GridhouseError

    monkeypatch.setenv("GRIDHOUSE_TENANT", "tenant-01")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")
    body = json.dumps({"data": [meter_record("m2", "2023-03-01T00:00:00Z", 1.0)]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server name)
            status, reply = {"/meters": (200, b'["a.json"]'), "/meters/a.json": (200, body)}.get(
                self.path, (500, b"broken")
            )
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(GridhouseError, match="not loaded without their tenant map"):
            load("meters", f"http://127.0.0.1:{server.server_address[1]}", fresh_db)
    finally:
        server.shutdown()
        server.server_close()
    assert rows(fresh_db, "select to_regclass('raw_meters.readings') is null") == [(True,)]  # nothing read
