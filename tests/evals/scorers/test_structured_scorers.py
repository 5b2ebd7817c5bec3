"""JSON-schema validity, field-level precision/recall and classification metrics."""

from __future__ import annotations

import pytest

from finsandbox.errors import ConfigError
from finsandbox.evals import Case, Evidence, Score, get_scorer

SCHEMA = {
    "type": "object",
    "required": ["name", "amount"],
    "properties": {"name": {"type": "string"}, "amount": {"type": "number", "minimum": 0}},
}
NONE = Evidence()


def case(**expected: object) -> Case:
    return Case(id="c1", input="Extract the remittance details.", expected=expected)


def test_json_schema_validity() -> None:
    scorer = get_scorer("json_schema", {"schema": SCHEMA})
    fenced = 'Here you go:\n```json\n{"name": "Chan Tai Man", "amount": 5000}\n```'
    assert scorer.score(case(), fenced, NONE).passed
    assert scorer.score(case(), 'Result: {"name": "Wong", "amount": 1} as requested', NONE).passed
    missing = scorer.score(case(), '{"name": "Wong"}', NONE)
    assert not missing.passed and "'amount' is a required property" in missing.explanation
    negative = scorer.score(case(), '{"name": "Wong", "amount": -3}', NONE)
    assert not negative.passed and negative.details["errors"][0].startswith("amount:")
    prose = scorer.score(case(), "The name is Wong and the amount is 5000.", NONE)
    assert not prose.passed and "no JSON" in prose.explanation


def test_json_schema_rejects_an_invalid_schema_at_load() -> None:
    with pytest.raises(ConfigError, match=r"settings\.schema: not a valid JSON schema"):
        get_scorer("json_schema", {"schema": {"type": "integer-ish"}})


def test_json_fields_precision_recall() -> None:
    scorer = get_scorer("json_fields")
    expected = {"fields": {"name": "Chan Tai Man", "amount": 5000, "address": {"district": "Sha Tin"}}}
    output = (
        '{"name": "chan tai man", "amount": 5000.0, "address": {"district": "Tai Po"}, "currency": "HKD"}'
    )
    result = scorer.score(case(**expected), output, NONE)
    # 2 of 4 predicted fields correct (precision 0.5), 2 of 3 expected found (recall 2/3).
    assert result.details["precision"] == pytest.approx(0.5)
    assert result.details["recall"] == pytest.approx(2 / 3)
    assert result.value == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert result.details["wrong_or_missing"] == ["address.district"]
    assert not result.passed
    ignore_extra = get_scorer("json_fields", {"ignore_extra": True, "metric": "precision"})
    assert ignore_extra.score(case(**expected), output, NONE).value == pytest.approx(2 / 3)
    perfect = scorer.score(
        case(**expected), '{"name":"Chan Tai Man","amount":5000,"address":{"district":"sha tin"}}', NONE
    )
    assert perfect.value == 1.0

    results = [
        (case(**expected), output, result),
        (case(**expected), "{}", scorer.score(case(**expected), "{}", NONE)),
    ]
    agg = scorer.aggregate(results)
    assert agg["micro_precision"] == pytest.approx(2 / 4)
    assert agg["micro_recall"] == pytest.approx(2 / 6)


def test_classification_per_case_and_aggregate() -> None:
    scorer = get_scorer("classification", {"labels": ["fraud", "not fraud"], "positive_label": "fraud"})
    data = [
        ("fraud", "This looks like fraud."),
        ("fraud", "Not fraud: the payee is known."),
        ("not fraud", "not fraud"),
        ("not fraud", "FRAUD - block the card"),
        ("fraud", "Fraud."),
        ("not fraud", "I am unsure."),
    ]
    results: list[tuple[Case, str, Score]] = []
    for i, (label, output) in enumerate(data):
        c = Case(id=f"t{i}", input="Is this transaction fraud?", expected={"label": label})
        results.append((c, output, scorer.score(c, output, NONE)))
    assert [r[2].details["predicted"] for r in results] == [
        "fraud",
        "not fraud",
        "not fraud",
        "fraud",
        "fraud",
        "(none)",
    ]
    agg = scorer.aggregate(results)
    assert agg["accuracy"] == pytest.approx(3 / 6)
    matrix = agg["confusion_matrix"]
    assert matrix["fraud"] == {"(none)": 0, "fraud": 2, "not fraud": 1}
    assert matrix["not fraud"] == {"(none)": 1, "fraud": 1, "not fraud": 1}
    fraud = agg["per_class"]["fraud"]
    assert (fraud["precision"], fraud["recall"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert agg["positive"]["label"] == "fraud" and agg["positive"]["f1"] == pytest.approx(2 / 3)
    not_fraud = agg["per_class"]["not fraud"]
    assert (not_fraud["precision"], not_fraud["recall"]) == (pytest.approx(1 / 2), pytest.approx(1 / 3))


def test_classification_without_label_set_uses_the_whole_output() -> None:
    scorer = get_scorer("classification")
    c = Case(id="t", input="Risk rating?", expected={"label": "High"})
    assert scorer.score(c, "high", NONE).passed
    assert not scorer.score(c, "high risk", NONE).passed
