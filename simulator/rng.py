"""Deterministic randomness: one numpy Generator per entity, derived from (seed, family, index...).

An entity's numbers depend only on the seed and its own indices, never on how many other entities
there are or in which order they are written.
"""

from __future__ import annotations

import uuid

import numpy as np

FAMILY_CODES = {"batteries": 1, "meters": 2, "circuits": 3, "devices": 4, "fleet": 5}


def entity_rng(seed: int, family: str, *index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, FAMILY_CODES[family], *index]))


def new_uuid(rng: np.random.Generator) -> str:
    """A version-4 UUID drawn from `rng` (so it is reproducible)."""
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def hex_id(rng: np.random.Generator, digits: int = 16) -> str:
    """Upper-case hex digits, like a circuit sensor's duid."""
    return rng.bytes(digits // 2).hex().upper()
