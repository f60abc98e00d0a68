"""Descriptions reach the database (persist_docs): on the fixture warehouse (built once per session), every
mart, alert view and data_quality view carries its YAML description as its table or view comment and each
described column its own, which is what a BI tool (Superset, Metabase, Grafana) shows."""

from __future__ import annotations

import yaml
from conftest import rows

from ingest.db import PROJECT_ROOT

SCHEMAS = ("marts", "alerts", "data_quality")  # each is its own folder under dbt_project/models


def described_models(folder: str) -> dict[str, dict]:
    """Every model of the folder's YAML: {name: {"description": text, "columns": {column: text}}}."""
    models = {}
    for path in sorted((PROJECT_ROOT / "dbt_project" / "models" / folder).rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models") or []:
            models[model["name"]] = {
                "description": model.get("description") or "",
                "columns": {c["name"]: c.get("description") or "" for c in model.get("columns") or []},
            }
    return models


def test_descriptions_reach_the_database(fixture_warehouse):
    """Whatever the materialization: table, dbt's incremental, incremental_in_place, view_in_place, and
    rollup (dbt's incremental on PostgreSQL; tests/test_timescale_devices.py checks the continuous
    aggregates)."""
    relation_sql = (
        "select n.nspname, c.relname, null, obj_description(c.oid, 'pg_class') "
        "from pg_class as c join pg_namespace as n on n.oid = c.relnamespace "
        "where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p')"
    )
    column_sql = (
        "select n.nspname, c.relname, a.attname, col_description(c.oid, a.attnum) "
        "from pg_class as c join pg_namespace as n on n.oid = c.relnamespace "
        "join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
        "where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p')"
    )
    comments = {
        (schema, relation, column): text
        for schema, relation, column, text in rows(
            fixture_warehouse, f"{relation_sql} union all {column_sql}", (list(SCHEMAS), list(SCHEMAS))
        )
    }
    columns_checked = 0
    for schema in SCHEMAS:
        for name, model in described_models(schema).items():
            assert model["description"], f"{schema}.{name} has no description"
            assert comments.get((schema, name, None)) == model["description"], f"{schema}.{name}"
            for column, text in model["columns"].items():
                if (schema, name, column) in comments:
                    assert comments[(schema, name, column)] == (text or None), f"{schema}.{name}.{column}"
                    columns_checked += 1
    # the three kinds the issue names, and that columns were checked at all
    for schema, name in (
        ("marts", "fct_battery_daily"),
        ("alerts", "battery_low_soc"),
        ("data_quality", "check_status"),
    ):
        assert comments.get((schema, name, None)), f"{schema}.{name}"
        assert any(comments.get((schema, name, c)) for c in described_models(schema)[name]["columns"])
    assert columns_checked > 100
