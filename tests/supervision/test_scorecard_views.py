"""Inherent and residual risk, control effectiveness, and per-check principle attribution."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finsandbox.supervision import scorecards as sc
from finsandbox.supervision.framework import DEFAULT_FRAMEWORK, load_framework


@dataclass
class R:
    id: str
    scores: list[dict[str, Any]]
    passed: bool | None
    model_passed: bool | None
    recipe: str = "cs"
    suite: str = "s"
    error: str | None = None
    attack: str | None = None
    output: str = "answer"
    case: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.case = self.case or {"input": f"question {self.id}"}  # one input per case unless given

    @property
    def item(self) -> str:
        return f"s/{self.recipe}/{self.id}"

    @property
    def case_id(self) -> str:
        return self.id

    @property
    def evidence(self) -> dict[str, Any]:
        return {"model_view": {"source": "gateway", "passed": self.model_passed}}


def check(scorer: str, principles: list[str], system: bool, model: bool | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "scorer": scorer,
        "value": float(system),
        "passed": system,
        "principles": principles,
    }
    row["model"] = {"skipped": "no model view"} if model is None else {"passed": model, "value": float(model)}
    return row


def _card(rows: list[R]) -> dict[str, Any]:
    recipes = {
        "s/cs": {"theme": "customer_service", "principles": ["human_oversight", "transparency_disclosure"]}
    }
    return sc.compute(load_framework(DEFAULT_FRAMEWORK), {"id": "t"}, recipes, rows)


def test_a_failed_escalation_never_lowers_transparency() -> None:
    rows = [
        R(
            f"c{i}",
            [
                check("escalation", ["human_oversight"], i % 2 == 0, i % 2 == 0),
                check("disclosure", ["transparency_disclosure"], True, True),
            ],
            passed=i % 2 == 0,
            model_passed=i % 2 == 0,
        )
        for i in range(10)
    ]
    p = _card(rows)["principles"]
    assert p["human_oversight"]["pass_rate"] == 0.5
    assert p["transparency_disclosure"]["pass_rate"] == 1.0
    assert p["reliability_accuracy"]["evidenced"] is False


def test_leaking_model_behind_guards_is_inherent_e_residual_a_and_the_guards_caught_all() -> None:
    # The model leaks in all 8 cases; the output PII guard masks every leak.
    rows = [
        R(f"c{i}", [check("pii_leakage", ["data_privacy"], True, False)], passed=True, model_passed=False)
        for i in range(8)
    ]
    recipes = {"s/cs": {"theme": "customer_service", "principles": ["data_privacy"]}}
    p = sc.compute(load_framework(DEFAULT_FRAMEWORK), {"id": "t"}, recipes, rows)["principles"][
        "data_privacy"
    ]
    assert (p["inherent"]["pass_rate"], p["inherent"]["grade"]) == (0.0, "E")
    assert (p["residual"]["pass_rate"], p["residual"]["grade"]) == (1.0, "A")
    assert p["pass_rate"] == 1.0  # the headline stays the residual view, with the inherent one beside it
    assert (p["controls"]["caught"], p["controls"]["model_failures"], p["controls"]["effectiveness"]) == (
        8,
        8,
        1.0,
    )
    assert p["inherent"]["worst"] and "pii_leakage" in p["inherent"]["worst"][0]["reasons"][0]


def test_a_guard_block_of_a_good_answer_is_harm_not_effectiveness() -> None:
    rows = [R("c1", [check("refusal", ["human_oversight"], False, True)], passed=False, model_passed=True)]
    c = _card(rows)["principles"]["human_oversight"]["controls"]
    assert (c["model_failures"], c["caught"], c["harmed"], c["effectiveness"]) == (0, 0, 1, None)


def test_a_check_without_a_model_view_counts_only_in_the_residual_view() -> None:
    rows = [
        R("c1", [check("guard_outcome", ["human_oversight"], False, None)], passed=False, model_passed=None)
    ]
    p = _card(rows)["principles"]["human_oversight"]
    assert p["residual"]["judged"] == 1 and p["inherent"]["judged"] == 0 and p["inherent"]["not_reached"] == 1


def test_compare_reports_both_views() -> None:
    class Card:
        def __init__(self, cid: str, data: dict[str, Any]) -> None:
            self.id, self.trial_id, self.version, self.workspace_id, self.data = cid, cid, 1, "w", data

    clean = [R(f"c{i}", [check("pii_leakage", ["data_privacy"], True, True)], True, True) for i in range(20)]
    leaky = [
        R(f"c{i}", [check("pii_leakage", ["data_privacy"], True, False)], True, False) for i in range(20)
    ]
    recipes = {"s/cs": {"theme": "customer_service", "principles": ["data_privacy"]}}
    fw = load_framework(DEFAULT_FRAMEWORK)
    a = Card("a", sc.compute(fw, {"id": "a"}, recipes, clean))
    b = Card("b", sc.compute(fw, {"id": "b"}, recipes, leaky))
    result = sc.compare(a, b)
    inherent = {c["name"]: c for c in result["inherent"]}
    residual = {c["name"]: c for c in result["residual"]}
    assert inherent["data_privacy"]["verdict"] == "worse"
    assert residual["data_privacy"]["verdict"] == "no significant change"
    assert "data_privacy (inherent)" in result["worse"]


@dataclass
class Checked(R):
    decisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def evidence(self) -> dict[str, Any]:
        return {
            "model_view": {"source": "gateway", "passed": self.model_passed},
            "guard_decisions": self.decisions,
        }


def _checker(action: str, outcome: str, principles: list[str]) -> dict[str, Any]:
    return {"guard": "checker", "action": action, "location": "output",
            "check": {"outcome": outcome, "principles": principles}}  # fmt: skip


def test_a_checker_block_is_credited_only_to_the_principles_its_failed_items_name() -> None:
    accuracy = [check("numeric", ["reliability_accuracy"], False, False)]
    rows = [
        # Blocked by the checker for grounding: the empty reply fails `numeric`, yet nothing wrong
        # reached the caller.
        Checked("c1", accuracy, passed=False, model_passed=False,
                decisions=[_checker("block", "block", ["reliability_accuracy"])]),
        # Only flagged: the wrong answer went through, so no credit.
        Checked("c2", accuracy, passed=False, model_passed=False,
                decisions=[_checker("allow", "flag", ["reliability_accuracy"])]),
        # Blocked for another principle: no credit here either.
        Checked("c3", accuracy, passed=False, model_passed=False,
                decisions=[_checker("block", "block", ["data_privacy"])]),
    ]  # fmt: skip
    recipes = {"s/cs": {"theme": "customer_service", "principles": ["reliability_accuracy"]}}
    p = sc.compute(load_framework(DEFAULT_FRAMEWORK), {"id": "t"}, recipes, rows)["principles"][
        "reliability_accuracy"
    ]
    assert p["inherent"]["pass_rate"] == 0.0  # the model's own answers still show all three failures
    assert p["residual"]["passed"] == 1 and p["residual"]["judged"] == 3
    assert p["controls"]["caught"] == 1 and p["controls"]["by_guard"] == {"checker": 1}


def test_recipes_asking_the_same_inputs_are_one_sample_in_a_comparison() -> None:
    """Two recipes (format, exact answer) judge the same 20 held-out inputs: 0 of 20 before, the same
    4 of 20 after. Counted as 40 results each, Fisher's test would call it significant (p = 0.005);
    the inputs are 20, and the honest p is 0.11."""

    class Card:
        def __init__(self, cid: str, data: dict[str, Any]) -> None:
            self.id, self.trial_id, self.version, self.workspace_id, self.data = cid, cid, 1, "w", data

    recipes = {
        "s/format": {"theme": "anti_fraud", "principles": ["reliability_accuracy"]},
        "s/exact": {"theme": "anti_fraud", "principles": ["reliability_accuracy"]},
    }
    fw = load_framework(DEFAULT_FRAMEWORK)

    def rows(passing: set[int]) -> list[R]:
        return [
            R(
                f"c{i}",
                [check("regex", ["reliability_accuracy"], i in passing, i in passing)],
                i in passing,
                i in passing,
                recipe=recipe,
                case={"input": f"alert {i}"},
            )
            for recipe in ("format", "exact")
            for i in range(20)
        ]

    base, tuned = (
        sc.compute(fw, {"id": "a"}, recipes, rows(set())),
        sc.compute(fw, {"id": "b"}, recipes, rows({1, 5, 9, 13})),
    )
    assert tuned["overall"]["judged"] == 40 and tuned["overall"]["units"] == {"judged": 20, "passed": 4}
    result = sc.compare(Card("a", base), Card("b", tuned))
    assert result["overall"]["n_before"] == 20 and result["overall"]["n_after"] == 20
    assert abs(result["overall"]["p_value"] - sc.fisher_exact(0, 20, 4, 20)) < 1e-12
    assert result["overall"]["verdict"] == "no significant change"
    assert abs(sc.fisher_exact(0, 40, 8, 40) - result["overall"]["p_value"]) > 0.09  # what pooling claimed
    principle = {c["name"]: c for c in result["principles"]}["reliability_accuracy"]
    assert principle["n_after"] == 20 and principle["verdict"] == "no significant change"
    assert result["better"] == []
    # Distinct inputs keep their own weight: the same 4-of-20 change on 40 different alerts is 40.
    distinct = [
        R(
            r.id + r.recipe,
            r.scores,
            r.passed,
            r.model_passed,
            recipe=r.recipe,
            case={"input": r.id + r.recipe},
        )
        for r in rows({1, 5, 9, 13})
    ]
    assert sc.compute(fw, {"id": "c"}, recipes, distinct)["overall"]["units"] == {"judged": 40, "passed": 8}
