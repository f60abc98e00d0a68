"""A deterministic fleet simulator: the vendors' own file formats at any scale, plus the true answers.

    from simulator import simulate
    manifest = simulate(Path("fleet"), seed=7, preset="small")

See docs/simulator.md for the layout, the truth definitions and the injected events.
"""

from simulator.config import FAMILIES, PRESETS, SimConfig, make_config
from simulator.fleet import simulate
from simulator.manifest import Event, Manifest

__all__ = ["FAMILIES", "PRESETS", "Event", "Manifest", "SimConfig", "make_config", "simulate"]
