"""The knobs of a simulated fleet: one frozen value, validated once, with named presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import date
from typing import Any

from ingest.errors import GridhouseError

FAMILIES = ("batteries", "meters", "circuits", "devices")
BATTERY_PROFILES = ("peak_shaving", "arbitrage", "frequency", "idle", "intermittent")


@dataclass(frozen=True)
class SimConfig:
    """Everything that shapes the output. The same config and seed give byte-identical trees."""

    seed: int = 0
    batteries: int = 20
    meters: int = 6
    tenants: int = 2
    organizations: int = 3
    locations_per_org: int = 2
    sensors_per_location: int = 2
    circuits_per_sensor: int = 3
    homes: int = 10
    start: date = date(2024, 4, 1)
    days: int = 2
    interval: int = 60
    device_interval: int = 300
    meter_days: int = 1
    families: tuple[str, ...] = FAMILIES
    events: bool = True
    # Battery ageing studies (docs/simulator.md): a factor on each asset's fade during the span, and the
    # profiles to give assets in turn (e.g. ("frequency", "idle")) instead of drawing them; empty = drawn.
    battery_fade_scale: float = 1.0
    battery_profiles: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["families"] = list(self.families)
        data["battery_profiles"] = list(self.battery_profiles)
        return data

    @property
    def steps(self) -> int:
        """Battery telemetry points per series over the span."""
        return self.days * 86_400 // self.interval


PRESETS: dict[str, dict[str, Any]] = {
    # A fleet that writes in a few seconds and still shows every event kind and both DST days.
    "small": {
        "batteries": 5,
        "meters": 6,
        "tenants": 2,
        "organizations": 2,
        "locations_per_org": 2,
        "sensors_per_location": 2,
        "circuits_per_sensor": 3,
        "homes": 3,
        "days": 2,
    },
}


def make_config(seed: int = 0, preset: str | None = None, **knobs: Any) -> SimConfig:
    """A validated config: preset values first, then any knob given explicitly (None = not given)."""
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise GridhouseError(f"simulate: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        values.update(PRESETS[preset])
    known = {f.name for f in fields(SimConfig)}
    for name, value in knobs.items():
        if name not in known:
            raise GridhouseError(f"simulate: unknown knob {name!r}; known: {', '.join(sorted(known))}")
        if value is not None:
            values[name] = value
    if isinstance(values.get("start"), str):
        try:
            values["start"] = date.fromisoformat(values["start"])
        except ValueError:
            raise GridhouseError(
                f"simulate: --start {values['start']!r} is not an ISO date; use e.g. 2024-04-01"
            ) from None
    if "families" in values:
        families = values["families"]
        if isinstance(families, str):
            families = [f.strip() for f in families.split(",") if f.strip()]
        unknown = [f for f in families if f not in FAMILIES]
        if unknown or not families:
            raise GridhouseError(
                f"simulate: --families {','.join(families)!r} names no or unknown families; "
                f"choose from {','.join(FAMILIES)}"
            )
        values["families"] = tuple(f for f in FAMILIES if f in families)
    if isinstance(values.get("battery_profiles"), str):
        values["battery_profiles"] = [p.strip() for p in values["battery_profiles"].split(",") if p.strip()]
    if "battery_profiles" in values:
        values["battery_profiles"] = tuple(values["battery_profiles"])
        unknown = [p for p in values["battery_profiles"] if p not in BATTERY_PROFILES]
        if unknown:
            raise GridhouseError(
                f"simulate: --battery-profiles {','.join(unknown)!r} unknown; choose from {','.join(BATTERY_PROFILES)}"
            )
    config = replace(SimConfig(seed=int(seed)), **values)
    _validate(config)
    return config


def _validate(config: SimConfig) -> None:
    counts = {
        "batteries": config.batteries,
        "meters": config.meters,
        "homes": config.homes,
        "organizations": config.organizations,
        "locations-per-org": config.locations_per_org,
        "sensors-per-location": config.sensors_per_location,
        "circuits-per-sensor": config.circuits_per_sensor,
    }
    for name, value in counts.items():
        if value < 0:
            raise GridhouseError(f"simulate: --{name} is {value}; give 0 or more")
    if config.tenants < 1:
        raise GridhouseError(f"simulate: --tenants is {config.tenants}; give 1 or more")
    if config.days < 1:
        raise GridhouseError(f"simulate: --days is {config.days}; give 1 or more")
    if config.meter_days < 0:
        raise GridhouseError(f"simulate: --meter-days is {config.meter_days}; give 0 or more")
    for name, value in (("interval", config.interval), ("device-interval", config.device_interval)):
        if value < 1 or 86_400 % value:
            raise GridhouseError(
                f"simulate: --{name} {value} s does not divide a day; use e.g. 1, 4, 15, 60, 300 or 900"
            )
    if config.battery_fade_scale < 0:
        raise GridhouseError(f"simulate: --battery-fade-scale {config.battery_fade_scale}; give 0 or more")
    if config.seed < 0:
        raise GridhouseError(f"simulate: --seed {config.seed} is negative; give 0 or more")
