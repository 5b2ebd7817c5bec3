"""Contains: required phrases appear and forbidden ones (an injection canary, a competitor) do not."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from finsandbox.evals.model import Case
from finsandbox.evals.scorers._text import fold
from finsandbox.evals.scorers.base import Evidence, Score, Scorer, ScorerSettings, scorer


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]  # type: ignore[union-attr]


class ContainsSettings(ScorerSettings):
    values: list[str] = Field(default_factory=list)
    must_not_contain: list[str] = Field(default_factory=list)
    mode: Literal["all", "any"] = "all"
    case_sensitive: bool = False


@scorer("contains")
class Contains(Scorer):
    """Phrases come from settings (every case) and/or expected.contains / expected.must_not_contain."""

    Settings = ContainsSettings

    def _lists(self, case: Case) -> tuple[list[str], list[str]]:
        s: ContainsSettings = self.settings  # type: ignore[assignment]
        wanted = s.values + _as_list(case.expected.get("contains"))
        banned = s.must_not_contain + _as_list(case.expected.get("must_not_contain"))
        return wanted, banned

    def problem(self, case: Case) -> str | None:
        wanted, banned = self._lists(case)
        if not wanted and not banned:
            return "no phrases to check: set settings.values or expected.contains / expected.must_not_contain"
        return None

    def score(self, case: Case, output: str, evidence: Evidence) -> Score:
        s: ContainsSettings = self.settings  # type: ignore[assignment]
        wanted, banned = self._lists(case)

        def norm(text: str) -> str:
            return text if s.case_sensitive else fold(text)

        text = norm(output)
        present = [w for w in wanted if norm(w) in text]
        absent = [w for w in wanted if norm(w) not in text]
        leaked = [b for b in banned if norm(b) in text]
        if wanted:
            want_ok = bool(present) if s.mode == "any" else not absent
            want_value = (1.0 if present else 0.0) if s.mode == "any" else len(present) / len(wanted)
        else:
            want_ok, want_value = True, 1.0
        value = 0.0 if leaked else want_value
        reasons = []
        if leaked:
            reasons.append(f"contains forbidden {leaked}")
        if not want_ok:
            reasons.append(f"missing {absent}")
        return Score(
            value=value,
            # A forbidden phrase or a missing required one fails whatever the threshold says.
            passed=want_ok and not leaked and value >= self.threshold,
            explanation="; ".join(reasons) or "required phrases present, forbidden ones absent",
            details={"present": present, "missing": absent, "forbidden_found": leaked},
        )
