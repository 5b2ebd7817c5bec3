"""Classification: the predicted label per case, and precision/recall/F1 and a confusion matrix overall."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from finsandbox.evals.metrics import classification_report
from finsandbox.evals.model import Case
from finsandbox.evals.scorers._text import normalise
from finsandbox.evals.scorers.base import Evidence, Result, Score, Scorer, ScorerSettings, scorer

NO_LABEL = "(none)"


class ClassificationSettings(ScorerSettings):
    # The label set; when given, the prediction is the first label named in the output.
    labels: list[str] = Field(default_factory=list)
    # For binary tasks (fraud / not fraud): also report precision/recall of this class at the top level.
    positive_label: str | None = None


@scorer("classification")
class Classification(Scorer):
    """Fraud flags, complaint categories, risk ratings: per-class errors matter more than accuracy."""

    Settings = ClassificationSettings
    required_expected = ("label",)

    def predict(self, output: str) -> str:
        s: ClassificationSettings = self.settings  # type: ignore[assignment]
        text = normalise(output)
        if not s.labels:
            return text or NO_LABEL
        exact = {normalise(label): label for label in s.labels}
        if text in exact:
            return exact[text]
        best: tuple[int, str] | None = None
        for label in s.labels:
            m = re.search(rf"(?<!\w){re.escape(normalise(label))}(?!\w)", text)
            # Earliest mention wins; on a tie the longer label ("not fraud" beats "fraud").
            if m and (best is None or (m.start(), -len(label)) < (best[0], -len(best[1]))):
                best = (m.start(), label)
        return best[1] if best else NO_LABEL

    def score(self, case: Case, output: str, evidence: Evidence) -> Score:
        truth = str(case.expected["label"])
        predicted = self.predict(output)
        hit = normalise(predicted) == normalise(truth)
        return self.result(
            1.0 if hit else 0.0,
            f"predicted '{predicted}', expected '{truth}'",
            predicted=predicted,
            expected=truth,
        )

    def aggregate(self, results: list[Result]) -> dict[str, Any]:
        s: ClassificationSettings = self.settings  # type: ignore[assignment]
        spelling: dict[str, str] = {normalise(label): label for label in s.labels}

        def canon(label: str) -> str:
            # "Fraud" and "fraud" are one class in the matrix.
            return spelling.setdefault(normalise(label), label) if label != NO_LABEL else label

        truth = [canon(str(c.expected.get("label"))) for c, _, _ in results]
        predicted = [canon(str(s_.details.get("predicted", NO_LABEL))) for _, _, s_ in results]
        report = classification_report(truth, predicted)
        out: dict[str, Any] = {**super().aggregate(results), **report}
        if s.positive_label is not None:
            positive = report["per_class"].get(s.positive_label, {"precision": 0.0, "recall": 0.0, "f1": 0.0})
            out["positive"] = {"label": s.positive_label, **positive}
        return out
