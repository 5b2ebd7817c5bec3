"""Homoglyphs: Latin letters replaced by look-alike Cyrillic and Greek ones, which evade keyword
filters while reading the same to a person."""

from __future__ import annotations

import random

from pydantic import Field

from finsandbox.evals.attacks.base import Attack, AttackSettings, attack
from finsandbox.evals.model import Case

HOMOGLYPHS = {
    "a": "\u0430",
    "c": "\u0441",
    "e": "\u0435",
    "i": "\u0456",
    "j": "\u0458",
    "o": "\u043e",
    "p": "\u0440",
    "s": "\u0455",
    "x": "\u0445",
    "y": "\u0443",
    "A": "\u0391",
    "B": "\u0392",
    "C": "\u0421",
    "E": "\u0395",
    "H": "\u0397",
    "K": "\u039a",
    "M": "\u039c",
    "O": "\u039f",
    "P": "\u03a1",
    "T": "\u03a4",
    "X": "\u03a7",
}


class HomoglyphsSettings(AttackSettings):
    rate: float = Field(default=0.3, gt=0, le=1)
    count: int = Field(default=2, ge=1, le=50)


@attack("homoglyphs")
class Homoglyphs(Attack):
    Settings = HomoglyphsSettings

    def variants(self, case: Case, rng: random.Random) -> list[Case]:
        s: HomoglyphsSettings = self.settings  # type: ignore[assignment]
        text = case.user_text
        positions = [i for i, ch in enumerate(text) if ch in HOMOGLYPHS]
        if not positions:
            return []
        out: list[Case] = []
        for n in range(1, s.count + 1):
            k = max(1, round(s.rate * len(positions)))
            chosen = set(rng.sample(positions, min(k, len(positions))))
            new = "".join(HOMOGLYPHS[ch] if i in chosen else ch for i, ch in enumerate(text))
            out.append(
                self.variant(
                    case, n, {"rate": s.rate, "replaced": len(chosen)}, input=case.with_user_text(new)
                )
            )
        return out
