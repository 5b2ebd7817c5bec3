"""Regex: the output matches (or must not match) a pattern, e.g. a reference-number format."""

from __future__ import annotations

import re

from pydantic import field_validator

from finsandbox.evals.model import Case
from finsandbox.evals.scorers.base import Evidence, Score, Scorer, ScorerSettings, scorer


def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)


class RegexSettings(ScorerSettings):
    pattern: str | None = None
    must_match: bool = True
    ignore_case: bool = False
    # fullmatch: the whole (stripped) output must match, not just a part of it.
    full: bool = False

    @field_validator("pattern")
    @classmethod
    def _valid(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value


@scorer("regex")
class Regex(Scorer):
    """The pattern comes from settings.pattern or, per case, expected.regex."""

    Settings = RegexSettings

    def _pattern(self, case: Case) -> str | None:
        s: RegexSettings = self.settings  # type: ignore[assignment]
        return case.expected.get("regex") or s.pattern

    def problem(self, case: Case) -> str | None:
        pattern = self._pattern(case)
        if pattern is None:
            return "no pattern: set settings.pattern or expected.regex"
        try:
            re.compile(pattern)
        except re.error as exc:
            return f"expected.regex is not a valid regular expression: {exc}"
        return None

    def score(self, case: Case, output: str, evidence: Evidence) -> Score:
        s: RegexSettings = self.settings  # type: ignore[assignment]
        pattern = _compile(self._pattern(case) or "", s.ignore_case)
        matched = bool(pattern.fullmatch(output.strip()) if s.full else pattern.search(output))
        ok = matched == s.must_match
        verb = "matches" if matched else "does not match"
        return self.result(1.0 if ok else 0.0, f"output {verb} /{pattern.pattern}/", matched=matched)
