"""Battery marts against the simulator's truth: energy, EFC, SoH, low-SoC episodes and every alert view."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import rows
from test_battery_support import SimWarehouse, battery_sim_fixture  # noqa: F401 (the battery_sim fixture)


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _daily(sim: SimWarehouse) -> dict[tuple[str, str], tuple]:
    got = rows(
        sim.conn,
        "select asset_id, day_utc::text, energy_charged_kwh, energy_discharged_kwh, efc "
        "from marts.fct_battery_daily",
    )
    return {(a, d): (ch, dis, efc) for a, d, ch, dis, efc in got}


def test_daily_energy_within_half_a_percent_and_efc_within_two(battery_sim: SimWarehouse):
    mine = _daily(battery_sim)
    truth = battery_sim.truth("battery_daily")
    assert truth and set(mine) == {(t["device_id"], t["day"]) for t in truth}
    compared = 0
    for t in truth:
        got = mine[(t["device_id"], t["day"])]
        for value, (expected, tolerance) in zip(
            got,
            ((t["energy_charged_kwh"], 0.005), (t["energy_discharged_kwh"], 0.005), (t["efc"], 0.02)),
            strict=True,
        ):
            if expected == "":
                assert value is None, (t, got)
                continue
            assert value is not None, (t, got)
            assert abs(value - float(expected)) <= tolerance * abs(float(expected)) + 1e-6, (t, got)
            compared += 1
    assert compared > 50


def test_counter_reset_does_not_lose_or_invent_energy(battery_sim: SimWarehouse):
    resets = [a for a in battery_sim.truth("battery_alerts") if a["kind"] == "counter_reset"]
    assert resets, "the simulated fleet should contain a counter reset"
    got = rows(
        battery_sim.conn,
        "select sum(n_steps_reset), sum(n_steps_spike), sum(n_steps_rollback) from marts.fct_battery_daily",
    )
    # One reset per injected reset, and no clean step taken for a glitch.
    assert got[0] == (len(resets), 0, 0)


def test_soh_within_two_points_after_thirty_efc(battery_sim: SimWarehouse):
    truth = {(t["device_id"], t["day"]): float(t["soh_pct"]) for t in battery_sim.truth("battery_daily")}
    got = rows(
        battery_sim.conn,
        "select asset_id, day_utc::text, soh_pct, capacity_observations from marts.fct_battery_health "
        "where efc_cumulative >= 30 and soh_pct is not null",
    )
    assert got, "no asset reached 30 EFC with a capacity estimate"
    for asset_id, day, soh, observations in got:
        assert observations > 0
        assert abs(soh - truth[(asset_id, day)]) <= 2.0, (asset_id, day, soh, truth[(asset_id, day)])


def test_every_low_soc_episode_found_with_its_start_and_no_other(battery_sim: SimWarehouse):
    truth = {
        (a["device_id"], _ts(a["start_utc"]), _ts(a["end_utc"]))
        for a in battery_sim.truth("battery_alerts")
        if a["kind"] == "soc_low"
    }
    assert truth, "the simulated fleet should contain a low-SoC episode"
    got = set(
        rows(
            battery_sim.conn,
            "select asset_id, started_at, last_low_at from marts.fct_battery_low_soc_episodes",
        )
    )
    assert got == truth


def test_every_over_temperature_episode_found_with_its_start_and_end(battery_sim: SimWarehouse):
    # The simulator's episodes are runs above 45 °C; with 2-point hysteresis each is one episode whose
    # first and last hot points are the run's (precision and recall 1.0, and the times exact).
    truth = {
        (a["device_id"], _ts(a["start_utc"]), _ts(a["end_utc"]))
        for a in battery_sim.truth("battery_alerts")
        if a["kind"] == "over_temperature"
    }
    assert truth, "the simulated fleet should contain an over-temperature episode"
    got = set(
        rows(
            battery_sim.conn,
            "select asset_id, started_at, last_hot_at from marts.fct_battery_over_temperature_episodes",
        )
    )
    assert got == truth


def test_low_soc_alert_only_for_episodes_still_open(battery_sim: SimWarehouse):
    last = {
        a["device_id"]: _ts(a["last_reading_utc"])
        for a in battery_sim.truth("battery_assets")
        if a["last_reading_utc"]
    }
    open_episodes = {
        (a["device_id"], _ts(a["start_utc"]))
        for a in battery_sim.truth("battery_alerts")
        if a["kind"] == "soc_low" and _ts(a["end_utc"]) == last[a["device_id"]]
    }
    got = set(rows(battery_sim.conn, "select asset_id, since from alerts.battery_low_soc"))
    assert got == open_episodes


def test_no_soc_alert_names_exactly_the_assets_without_soc(battery_sim: SimWarehouse):
    # An asset whose telemetry file could not be read is not "without SoC": battery_feed_unreadable has it.
    expected = {
        a["device_id"]
        for a in battery_sim.truth("battery_assets")
        if a["reports_soc"] == "false" and a["telemetry_file"] == "ok"
    }
    got = rows(battery_sim.conn, "select asset_id, message from alerts.battery_no_soc")
    assert expected and {a for a, _ in got} == expected
    assert all("no SoC reported" in message for _, message in got)


def test_feed_unreadable_alert_names_each_unreadable_file_and_why(battery_sim: SimWarehouse):
    broken = {
        a["device_id"]: a["telemetry_file"]
        for a in battery_sim.truth("battery_assets")
        if a["telemetry_file"] != "ok"
    }
    got = dict(rows(battery_sim.conn, "select asset_id, message from alerts.battery_feed_unreadable"))
    assert broken and set(got) == set(broken)
    # the simulator breaks a file by cutting it short or by serving an HTML error page instead of JSON
    words = {"truncated": "truncated JSON", "not_json": "not valid JSON"}
    for asset_id, how in broken.items():
        assert f"telemetry/{asset_id}.json could not be read ({words[how]}" in got[asset_id]


def test_vendor_warning_alert_names_every_asset_not_ok(battery_sim: SimWarehouse):
    expected = {
        (a["device_id"], a["state"]) for a in battery_sim.truth("battery_assets") if a["state"] != "Ok"
    }
    got = rows(battery_sim.conn, "select asset_id, severity, message from alerts.battery_vendor_warning")
    assert {(a, m.split("vendor state is ")[1].split(" ")[0]) for a, _, m in got} == expected
    assert {s for a, s, _ in got if dict(expected)[a] == "Warning"} <= {"warning"}


def test_stale_alert_starts_at_each_assets_last_reading(battery_sim: SimWarehouse):
    last = {
        a["device_id"]: _ts(a["last_reading_utc"])
        for a in battery_sim.truth("battery_assets")
        if a["last_reading_utc"]
    }
    got = dict(rows(battery_sim.conn, "select asset_id, since from alerts.battery_stale"))
    # Simulated data lies in the past, so every asset with telemetry is stale now.
    for asset_id, seen in last.items():
        assert got[asset_id] == seen
    assert all(since < datetime.now(UTC) for since in got.values())


def test_alert_views_share_one_column_contract(battery_sim: SimWarehouse):
    shapes = rows(
        battery_sim.conn,
        "select table_name, string_agg(column_name || ' ' || data_type, ', ' order by ordinal_position) "
        "from information_schema.columns where table_schema = 'alerts' and table_name like 'battery_%%' "
        "group by table_name",
    )
    assert len(shapes) == 6
    assert len({shape for _, shape in shapes}) == 1
    assert shapes[0][1].startswith("alert_id text, asset_id text, description text, severity text")
