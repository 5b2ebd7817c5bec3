"""Seeded randomness for attacks and generation: the same seed gives the same variants in any order."""

from __future__ import annotations

import random
from hashlib import sha256


def rng_for(seed: int | str, *parts: str) -> random.Random:
    """A random source fixed by the seed and the parts (recipe, attack, case id), not by run order."""
    digest = sha256("\x1f".join([str(seed), *parts]).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
