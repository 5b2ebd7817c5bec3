"""Exact match: the output equals an accepted answer, after trimming surrounding whitespace."""

from __future__ import annotations

from finsandbox.evals.model import Case
from finsandbox.evals.scorers.base import Evidence, Score, Scorer, ScorerSettings, scorer


def accepted_answers(case: Case) -> list[str]:
    answer = case.expected.get("answer")
    if answer is None:
        return []
    return [str(a) for a in answer] if isinstance(answer, list) else [str(answer)]


class ExactMatchSettings(ScorerSettings):
    case_sensitive: bool = True


@scorer("exact_match")
class ExactMatch(Scorer):
    """For closed answers (a code, an account type) where any rewording is wrong."""

    Settings = ExactMatchSettings
    required_expected = ("answer",)

    def score(self, case: Case, output: str, evidence: Evidence) -> Score:
        settings: ExactMatchSettings = self.settings  # type: ignore[assignment]
        got = output.strip()
        answers = [a.strip() for a in accepted_answers(case)]
        if not settings.case_sensitive:
            got = got.casefold()
            answers = [a.casefold() for a in answers]
        hit = got in answers
        return self.result(
            1.0 if hit else 0.0,
            "output equals an accepted answer" if hit else "output differs from every accepted answer",
            accepted=len(answers),
        )
