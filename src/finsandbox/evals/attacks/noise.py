"""Casing and whitespace noise: SHOUTING, lower case, random case, and stray spaces, tabs and newlines."""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field

from finsandbox.evals.attacks.base import Attack, AttackSettings, attack
from finsandbox.evals.model import Case

Mode = Literal["upper", "lower", "random_case", "whitespace"]


def apply(mode: str, text: str, rng: random.Random, rate: float) -> str:
    if mode == "upper":
        return text.upper()
    if mode == "lower":
        return text.lower()
    if mode == "random_case":
        return "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in text)
    # whitespace: widen some gaps between words and pad the ends
    out: list[str] = []
    for ch in text:
        if ch == " " and rng.random() < rate:
            out.append(rng.choice(["  ", "   ", " \t", "\n", " \u00a0"]))
        else:
            out.append(ch)
    return "  " + "".join(out) + " \n"


class NoiseSettings(AttackSettings):
    modes: list[Mode] = Field(
        default_factory=lambda: ["upper", "lower", "random_case", "whitespace"], min_length=1
    )
    whitespace_rate: float = Field(default=0.3, gt=0, le=1)


@attack("noise")
class Noise(Attack):
    """One variant per mode; the meaning is untouched, so the expectations stay the same."""

    Settings = NoiseSettings

    def variants(self, case: Case, rng: random.Random) -> list[Case]:
        s: NoiseSettings = self.settings  # type: ignore[assignment]
        out: list[Case] = []
        for n, mode in enumerate(s.modes, start=1):
            text = apply(mode, case.user_text, rng, s.whitespace_rate)
            if text == case.user_text:
                continue
            out.append(self.variant(case, n, {"mode": mode}, input=case.with_user_text(text)))
        return out
