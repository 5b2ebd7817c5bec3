"""Numeric tolerance: every expected amount, rate and date appears in the output, within tolerance."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from finsandbox.evals.model import Case
from finsandbox.evals.scorers._text import Quantity, find_quantities, parse_quantity
from finsandbox.evals.scorers.base import Evidence, Score, Scorer, ScorerSettings, scorer


class NumericSettings(ScorerSettings):
    abs_tol: float = Field(default=0.0, ge=0)
    rel_tol: float = Field(default=1e-6, ge=0)
    date_tol_days: int = Field(default=0, ge=0)
    # Also accept a rate written as a fraction (0.035 for 3.5%).
    rate_as_fraction: bool = True


def _expected_items(raw: list[Any]) -> list[tuple[Quantity | None, dict[str, Any]]]:
    items: list[tuple[Quantity | None, dict[str, Any]]] = []
    for item in raw:
        if isinstance(item, dict):
            quantity = parse_quantity(item.get("value"))
            if quantity is not None and item.get("kind"):
                quantity = Quantity(quantity.value, str(item["kind"]), quantity.text)
            items.append((quantity, item))
        else:
            items.append((parse_quantity(item), {}))
    return items


def _label(q: Quantity) -> str:
    if q.kind == "date":
        return date.fromordinal(int(q.value)).isoformat()
    return q.text


@scorer("numeric")
class Numeric(Scorer):
    """Finance answers are judged on their figures; wording around them is another scorer's job."""

    Settings = NumericSettings
    required_expected = ("numbers",)

    def _matches(self, want: Quantity, got: Quantity, overrides: dict[str, Any]) -> bool:
        s: NumericSettings = self.settings  # type: ignore[assignment]
        if (want.kind == "date") != (got.kind == "date"):
            return False
        if want.kind == "date":
            return abs(want.value - got.value) <= overrides.get("tol_days", s.date_tol_days)
        abs_tol = float(overrides.get("abs_tol", s.abs_tol))
        rel_tol = float(overrides.get("rel_tol", s.rel_tol))
        candidates = [got.value]
        if s.rate_as_fraction and want.kind == "rate" and got.kind == "number":
            candidates.append(got.value * 100)
        return any(abs(want.value - c) <= max(abs_tol, rel_tol * abs(want.value)) for c in candidates)

    def score(self, case: Case, output: str, evidence: Evidence) -> Score:
        found = find_quantities(output)
        matched: list[str] = []
        missing: list[str] = []
        for want, overrides in _expected_items(list(case.expected["numbers"])):
            if want is None:
                missing.append(f"unparseable expectation {overrides or '?'}")
                continue
            if any(self._matches(want, got, overrides) for got in found):
                matched.append(_label(want))
            else:
                missing.append(_label(want))
        total = len(matched) + len(missing)
        value = len(matched) / total if total else 1.0
        explanation = (
            "every expected figure found"
            if not missing
            else f"{len(missing)} of {total} expected figures missing or out of tolerance: "
            + ", ".join(missing)
        )
        return self.result(
            value, explanation, matched=matched, missing=missing, found=[_label(q) for q in found]
        )
