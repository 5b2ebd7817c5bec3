"""Phrase-pattern detection shared by the refusal, escalation and disclosure scorers."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from finsandbox.evals.scorers.base import ScorerSettings


class PatternSettings(ScorerSettings):
    # Extra patterns are added to the built-in ones; `replace_builtin` drops the built-ins.
    patterns: list[str] = Field(default_factory=list)
    replace_builtin: bool = False

    @field_validator("patterns")
    @classmethod
    def _valid(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return value


def compile_patterns(builtin: list[str], settings: PatternSettings) -> list[re.Pattern[str]]:
    chosen = settings.patterns if settings.replace_builtin else [*builtin, *settings.patterns]
    return [re.compile(p, re.IGNORECASE) for p in chosen]


def first_match(patterns: list[re.Pattern[str]], text: str) -> str | None:
    # Curly apostrophes are common in model output; match them as straight ones.
    text = text.replace("\u2019", "'")
    for pattern in patterns:
        m = pattern.search(text)
        if m:
            return m.group(0)
    return None
