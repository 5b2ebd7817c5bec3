"""Field-level precision/recall of extracted JSON against expected.fields."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from finsandbox.evals.metrics import f1, safe_div
from finsandbox.evals.model import Case
from finsandbox.evals.scorers._json import extract_json, flatten
from finsandbox.evals.scorers._text import normalise
from finsandbox.evals.scorers.base import Evidence, Result, Score, Scorer, ScorerSettings, scorer


class JsonFieldsSettings(ScorerSettings):
    metric: Literal["f1", "precision", "recall"] = "f1"
    abs_tol: float = Field(default=1e-6, ge=0)
    # Count only predicted fields that the expectation names (extra fields do not cost precision).
    ignore_extra: bool = False


@scorer("json_fields")
class JsonFields(Scorer):
    """Extraction quality per field, so one wrong field costs one field, not the whole case."""

    Settings = JsonFieldsSettings
    default_threshold = 0.8
    required_expected = ("fields",)

    def _equal(self, want: Any, got: Any) -> bool:
        s: JsonFieldsSettings = self.settings  # type: ignore[assignment]
        if isinstance(want, bool) or isinstance(got, bool):
            return want is got
        if isinstance(want, int | float) and isinstance(got, int | float):
            return abs(want - got) <= s.abs_tol
        if isinstance(want, str) and isinstance(got, str | int | float):
            return normalise(want) == normalise(str(got))
        return want == got

    def _counts(self, case: Case, output: str) -> tuple[int, int, int, list[str], list[str]]:
        s: JsonFieldsSettings = self.settings  # type: ignore[assignment]
        expected = flatten(case.expected["fields"])
        value, _ = extract_json(output)
        predicted = (
            {k: v for k, v in flatten(value).items() if v is not None} if isinstance(value, dict) else {}
        )
        if s.ignore_extra:
            predicted = {k: v for k, v in predicted.items() if k in expected}
        correct = [k for k, want in expected.items() if k in predicted and self._equal(want, predicted[k])]
        wrong = sorted(k for k in expected if k not in correct)
        return len(correct), len(predicted), len(expected), correct, wrong

    def score(self, case: Case, output: str, evidence: Evidence) -> Score:
        s: JsonFieldsSettings = self.settings  # type: ignore[assignment]
        tp, n_pred, n_exp, _, wrong = self._counts(case, output)
        p, r = safe_div(tp, n_pred), safe_div(tp, n_exp)
        values = {"precision": p, "recall": r, "f1": f1(p, r)}
        return self.result(
            values[s.metric],
            f"{tp} of {n_exp} expected fields correct; precision {p:.2f}, recall {r:.2f}",
            precision=p,
            recall=r,
            f1=values["f1"],
            true_positives=tp,
            predicted_fields=n_pred,
            expected_fields=n_exp,
            wrong_or_missing=wrong,
        )

    def aggregate(self, results: list[Result]) -> dict[str, Any]:
        """Micro-averaged precision/recall over every field of every case."""
        out = super().aggregate(results)
        tp = sum(int(s.details.get("true_positives", 0)) for _, _, s in results)
        pred = sum(int(s.details.get("predicted_fields", 0)) for _, _, s in results)
        exp = sum(int(s.details.get("expected_fields", 0)) for _, _, s in results)
        p, r = safe_div(tp, pred), safe_div(tp, exp)
        out.update({"micro_precision": p, "micro_recall": r, "micro_f1": f1(p, r)})
        return out
