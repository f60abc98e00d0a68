"""dbt with the right project, profile and connection: `gridhouse build`."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.db import PROJECT_ROOT, Connection
from ingest.errors import GridhouseError

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# A caller that passes one of these chooses the nodes itself: the production selector is not added.
SELECTION_FLAGS = {
    "-s", "--select", "-m", "--models", "--exclude", "--selector", "--resource-type", "--resource-types",
    "--exclude-resource-type", "--exclude-resource-types",
}  # fmt: skip


@dataclass
class BuildResult:
    success: bool
    statuses: Counter[str] = field(default_factory=Counter)  # "model:success", "test:pass", ...
    nodes: list[tuple[str, str]] = field(default_factory=list)  # (unique_id, status) of every node run

    def count(self, resource: str, status: str) -> int:
        return self.statuses[f"{resource}:{status}"]

    @classmethod
    def of(cls, invoked: Any) -> BuildResult:
        """The outcome of `dbtRunner().invoke(...)`, per node."""
        statuses: Counter[str] = Counter()
        nodes: list[tuple[str, str]] = []
        for node_result in getattr(invoked.result, "results", None) or []:
            resource = getattr(node_result.node, "resource_type", "node")
            statuses[f"{resource}:{node_result.status}"] += 1
            nodes.append((node_result.node.unique_id, str(node_result.status)))
        return cls(success=bool(invoked.success), statuses=statuses, nodes=nodes)

    def by_resource(self) -> Counter[str]:
        """Nodes run per resource type (model, test, snapshot, seed)."""
        return Counter(unique_id.split(".", 1)[0] for unique_id, _ in self.nodes)


def dbt_env(conn: Connection) -> dict[str, str]:
    env = conn.env()
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def run_dbt(conn: Connection, args: list[str], quiet: bool = False) -> BuildResult:
    """Run one dbt command in-process against `conn`; args as on the dbt command line."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env(conn))
    command = [
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_ROOT),
    ]
    if quiet:
        command = ["--quiet", *command]
    result = dbtRunner().invoke(command)
    if result.exception is not None:
        raise GridhouseError(f"dbt {args[0]} could not run: {result.exception}")
    return BuildResult.of(result)


def build(
    conn: Connection, extra: list[str] | None = None, quiet: bool = False, unit_tests: bool = False
) -> BuildResult:
    """`dbt build` over the whole project: the production build (selector `production`,
    dbt_project/selectors.yml) unless the caller selects nodes itself or asks for every test.

    The production build leaves out the tests whose inputs change only with a commit, dbt's unit tests and
    the seeds' tests: they belong to development and CI (`make test`, plain `dbt build`), not to every
    scheduled build of the warehouse.
    """
    from ingest.pipeline import ensure_raw_tables

    ensure_raw_tables(conn)  # a vendor that sent nothing yet has empty raw tables, not missing ones
    Path(DBT_PROJECT_DIR / "target").mkdir(exist_ok=True)
    args = ["build", *(extra or [])]
    if not unit_tests and not any(a in SELECTION_FLAGS or a.split("=")[0] in SELECTION_FLAGS for a in args):
        args += ["--selector", "production"]
    return run_dbt(conn, args, quiet=quiet)
