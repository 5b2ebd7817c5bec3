"""Normalised match: equal after casefolding and dropping punctuation, articles and extra spaces."""

from __future__ import annotations

from finsandbox.evals.model import Case
from finsandbox.evals.scorers._text import normalise
from finsandbox.evals.scorers.base import Evidence, Score, Scorer, ScorerSettings, scorer
from finsandbox.evals.scorers.exact_match import accepted_answers


class NormalisedMatchSettings(ScorerSettings):
    # Accept an output that contains an accepted answer as a whole phrase ("The answer is: Savings").
    contains: bool = False


@scorer("normalised_match")
class NormalisedMatch(Scorer):
    """Exact match that forgives formatting, so a model is not failed for "Savings." vs "savings"."""

    Settings = NormalisedMatchSettings
    required_expected = ("answer",)

    def score(self, case: Case, output: str, evidence: Evidence) -> Score:
        settings: NormalisedMatchSettings = self.settings  # type: ignore[assignment]
        got = normalise(output)
        answers = [normalise(a) for a in accepted_answers(case)]
        if settings.contains:
            padded = f" {got} "
            hit = any(a and f" {a} " in padded for a in answers)
        else:
            hit = got in answers
        return self.result(
            1.0 if hit else 0.0,
            "normalised output matches an accepted answer" if hit else "no accepted answer matches",
            normalised_output=got[:200],
        )
