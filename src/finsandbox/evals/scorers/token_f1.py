"""Token F1 (SQuAD-style) against the best-matching accepted answer."""

from __future__ import annotations

from collections import Counter

from finsandbox.evals.metrics import f1, safe_div
from finsandbox.evals.model import Case
from finsandbox.evals.scorers._text import tokens
from finsandbox.evals.scorers.base import Evidence, Score, Scorer, scorer
from finsandbox.evals.scorers.exact_match import accepted_answers


def token_f1(prediction: str, reference: str) -> tuple[float, float, float]:
    """(precision, recall, f1) of the bag of normalised tokens."""
    pred, ref = tokens(prediction), tokens(reference)
    if not pred and not ref:
        return 1.0, 1.0, 1.0
    common = sum((Counter(pred) & Counter(ref)).values())
    p, r = safe_div(common, len(pred)), safe_div(common, len(ref))
    return p, r, f1(p, r)


@scorer("token_f1")
class TokenF1(Scorer):
    """Partial credit for free-text answers that use the reference's words."""

    default_threshold = 0.5
    required_expected = ("answer",)

    def score(self, case: Case, output: str, evidence: Evidence) -> Score:
        best = max((token_f1(output, a) for a in accepted_answers(case)), key=lambda t: t[2])
        p, r, f = best
        return self.result(f, f"token F1 {f:.2f} (precision {p:.2f}, recall {r:.2f})", precision=p, recall=r)
