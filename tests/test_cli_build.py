"""`gridhouse build` hands dbt every argument it does not know itself, in order, as the README shows."""

from __future__ import annotations

import pytest

from ingest import cli


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["build", "--select", "staging"], ["--select", "staging"]),
        (["build", "--full-refresh"], ["--full-refresh"]),
        (["build", "--select", "staging", "--exclude", "stg_meters__loads"], ["--select", "staging", "--exclude", "stg_meters__loads"]),
        (["build", "--", "--full-refresh", "--select", "marts"], ["--full-refresh", "--select", "marts"]),
        (["build"], []),
    ],
)  # fmt: skip
def test_build_passes_dbt_arguments_through(monkeypatch, argv, expected):
    import ingest.build
    import ingest.db

    seen = []

    class Result:
        success = True

    monkeypatch.setattr(ingest.db, "resolve", lambda: "the warehouse")
    monkeypatch.setattr(ingest.build, "build", lambda conn, args: seen.append((conn, args)) or Result())
    assert cli.main(argv) == 0
    assert seen == [("the warehouse", expected)]


def test_other_commands_still_refuse_unknown_options(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["db", "status", "--select", "x"])
    assert stop.value.code == 2
    assert "unrecognized arguments: --select x" in capsys.readouterr().err
