"""Typos: character swaps, drops, doublings and keyboard-neighbour slips in a share of the words."""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field

from finsandbox.evals.attacks._text import perturb_words
from finsandbox.evals.attacks.base import Attack, AttackSettings, attack
from finsandbox.evals.model import Case

_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
NEIGHBOURS: dict[str, str] = {}
for r, row in enumerate(_ROWS):
    for c, ch in enumerate(row):
        near = {row[i] for i in (c - 1, c + 1) if 0 <= i < len(row)}
        for other in (r - 1, r + 1):
            if 0 <= other < len(_ROWS):
                near |= {_ROWS[other][i] for i in (c - 1, c, c + 1) if 0 <= i < len(_ROWS[other])}
        NEIGHBOURS[ch] = "".join(sorted(near))

Op = Literal["swap", "drop", "double", "neighbour"]


def typo(word: str, rng: random.Random, ops: list[str]) -> str:
    """One slip inside the word (the first letter is kept, as people rarely mistype it)."""
    op = rng.choice(ops)
    i = rng.randrange(1, len(word))
    if op == "swap":
        i = rng.randrange(1, len(word) - 1)
        if word[i] != word[i + 1]:
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        op = "neighbour"
    if op == "drop":
        return word[:i] + word[i + 1 :]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    lower = word[i].lower()
    sub = rng.choice(NEIGHBOURS.get(lower, lower))
    return word[:i] + (sub.upper() if word[i].isupper() else sub) + word[i + 1 :]


class TyposSettings(AttackSettings):
    rate: float = Field(default=0.15, gt=0, le=1)
    ops: list[Op] = Field(default_factory=lambda: ["swap", "drop", "double", "neighbour"], min_length=1)
    count: int = Field(default=3, ge=1, le=50)


@attack("typos")
class Typos(Attack):
    """Customers type on phones; an answer should not change because of a slipped key."""

    Settings = TyposSettings

    def variants(self, case: Case, rng: random.Random) -> list[Case]:
        s: TyposSettings = self.settings  # type: ignore[assignment]
        out: list[Case] = []
        for n in range(1, s.count + 1):
            text, changed = perturb_words(case.user_text, rng, s.rate, lambda w, r: typo(w, r, list(s.ops)))
            if changed == 0:
                continue
            out.append(
                self.variant(
                    case, n, {"rate": s.rate, "words_changed": changed}, input=case.with_user_text(text)
                )
            )
        return out
