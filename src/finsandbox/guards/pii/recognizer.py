"""Presidio-style pattern recognizer: regex candidates, a checksum gate, and context words.

Scores follow one rule so policies can reason about them: a pattern's base score is at most 0.65,
a checksum failure drops the candidate, and a context word near the match adds `context_boost`
(capped at 1.0). The default reporting threshold (0.5) therefore needs either a strong pattern
or a weak pattern plus context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from finsandbox import registry
from finsandbox.guards.base import Span

DEFAULT_MIN_SCORE = 0.5


@dataclass(frozen=True)
class Pattern:
    name: str
    regex: str
    score: float
    flags: int = 0


class Recognizer:
    """Finds one entity type. Subclasses set the class attributes and may override `validate`."""

    entity_type: str = ""
    # Breaks exact ties (same span, same score) between types: lower wins, so a checksummed
    # identifier beats a looser pattern. Plugins default to after every built-in.
    precedence: int = 1000
    patterns: tuple[Pattern, ...] = ()
    context: tuple[str, ...] = ()
    context_boost: float = 0.35
    context_before: int = 48
    context_after: int = 16
    # Which regex group holds the value (0 = whole match); lets patterns assert boundaries.
    group: int | str = 0

    def __init__(self) -> None:
        self._compiled = [(p, re.compile(p.regex, p.flags)) for p in self.patterns]
        self._context_re = (
            re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(w) for w in self.context) + r")(?![a-z0-9])")
            if self.context
            else None
        )

    def validate(self, value: str) -> bool:
        """Checksum or plausibility check on the matched value; False drops the candidate."""
        return True

    def pattern_score(self, pattern: Pattern, value: str) -> float:
        """The base score for a validated value; override to grade values (e.g. known bank codes)."""
        return pattern.score

    def has_context(self, text: str, start: int, end: int) -> bool:
        if self._context_re is None:
            return False
        window = text[max(0, start - self.context_before) : end + self.context_after].lower()
        return self._context_re.search(window) is not None

    def analyze(self, text: str) -> list[Span]:
        spans: list[Span] = []
        seen: set[tuple[int, int]] = set()
        for pattern, regex in self._compiled:
            for match in regex.finditer(text):
                start, end = match.span(self.group)
                if (start, end) in seen or start == end:
                    continue
                value = match.group(self.group)
                if not self.validate(value):
                    continue
                score = self.pattern_score(pattern, value)
                if self.has_context(text, start, end):
                    score += self.context_boost
                seen.add((start, end))
                spans.append(Span(start, end, self.entity_type, round(min(score, 1.0), 4)))
        return spans


recogniser = registry.recognisers.register
"""Class decorator: register a recogniser under its entity type (`@recogniser("HKID")`)."""


def digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())
