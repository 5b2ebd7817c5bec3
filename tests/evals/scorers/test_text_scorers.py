"""Answer-text scorers on hand-made cases whose right answer is known."""

from __future__ import annotations

import pytest

from finsandbox.errors import ConfigError
from finsandbox.evals import Case, Evidence, get_scorer


def case(**expected: object) -> Case:
    return Case(id="c1", input="What account suits a student?", expected=expected)


NONE = Evidence()


def test_exact_match() -> None:
    scorer = get_scorer("exact_match")
    assert scorer.score(case(answer="Savings"), "  Savings\n", NONE).passed
    miss = scorer.score(case(answer="Savings"), "savings", NONE)
    assert (miss.value, miss.passed) == (0.0, False)
    assert (
        get_scorer("exact_match", {"case_sensitive": False})
        .score(case(answer="Savings"), "savings", NONE)
        .passed
    )
    assert scorer.score(case(answer=["Savings", "Student savings"]), "Student savings", NONE).passed


def test_normalised_match_forgives_format_not_content() -> None:
    scorer = get_scorer("normalised_match")
    assert scorer.score(case(answer="savings account"), "The Savings Account.", NONE).passed
    assert not scorer.score(case(answer="savings account"), "current account", NONE).passed
    assert not scorer.score(case(answer="savings"), "I suggest a savings account", NONE).passed
    contains = get_scorer("normalised_match", {"contains": True})
    assert contains.score(case(answer="savings"), "I suggest a savings account", NONE).passed
    assert not contains.score(case(answer="save"), "I suggest a savings account", NONE).passed


def test_token_f1_value() -> None:
    scorer = get_scorer("token_f1")
    result = scorer.score(case(answer="cat sat down"), "The cat sat", NONE)
    # prediction tokens {cat, sat}, reference {cat, sat, down}: P=1, R=2/3, F1=0.8
    assert result.value == pytest.approx(0.8)
    assert result.details["precision"] == pytest.approx(1.0)
    assert result.passed  # default threshold 0.5
    strict = get_scorer("token_f1", threshold=0.9)
    assert not strict.score(case(answer="cat sat down"), "The cat sat", NONE).passed
    assert scorer.score(case(answer=["dog", "cat sat down"]), "cat sat down", NONE).value == 1.0


def test_token_f1_handles_chinese_characters() -> None:
    scorer = get_scorer("token_f1")
    assert scorer.score(case(answer="儲蓄戶口"), "儲蓄戶口", NONE).value == 1.0
    assert scorer.score(case(answer="儲蓄戶口"), "往來戶口", NONE).value == pytest.approx(0.5)


def test_numeric_amounts_rates_and_dates() -> None:
    scorer = get_scorer("numeric")
    expected = {"numbers": ["HK$12,345.60", "3.5%", "2026-03-31"]}
    good = "Your monthly repayment is HK$12,345.60 at 3.5% p.a. until 31 March 2026."
    assert scorer.score(case(**expected), good, NONE).value == 1.0
    wrong_rate = scorer.score(case(**expected), good.replace("3.5%", "3.8%"), NONE)
    assert wrong_rate.value == pytest.approx(2 / 3) and not wrong_rate.passed
    assert wrong_rate.details["missing"] == ["3.5%"]
    # Hong Kong day/month/year order, and a rate written as a fraction.
    other_forms = "Repay HK$12,345.60 at an annual rate of 0.035 until 31/03/2026."
    assert scorer.score(case(**expected), other_forms, NONE).passed
    # 3/31/2026 (US order) is not a valid HK date and must not match.
    assert not scorer.score(case(numbers=["2026-03-31"]), "until 3/31/2026", NONE).passed


def test_numeric_tolerance_and_scale_words() -> None:
    loose = get_scorer("numeric", {"abs_tol": 1})
    assert loose.score(case(numbers=[12345.6]), "about HK$12,346", NONE).passed
    assert not get_scorer("numeric").score(case(numbers=[12345.6]), "about HK$12,346", NONE).passed
    assert (
        get_scorer("numeric").score(case(numbers=["HK$1.2 million"]), "a limit of HK$1,200,000", NONE).passed
    )
    per_item = get_scorer("numeric").score(
        case(numbers=[{"value": 100, "abs_tol": 5}, {"value": "2024-01-10", "tol_days": 2}]),
        "Fee 103, due 2024-01-12",
        NONE,
    )
    assert per_item.value == 1.0
    assert not get_scorer("numeric").score(case(numbers=["2024-01-10"]), "Fee 20240110", NONE).passed


def test_contains_and_must_not_contain() -> None:
    scorer = get_scorer("contains", {"values": ["hotline", "2233 3000"]})
    assert scorer.score(case(), "Call our hotline on 2233 3000.", NONE).passed
    half = scorer.score(case(), "Call our hotline.", NONE)
    assert half.value == 0.5 and not half.passed and half.details["missing"] == ["2233 3000"]
    any_of = get_scorer("contains", {"values": ["hotline", "branch"], "mode": "any"})
    assert any_of.score(case(), "Visit a BRANCH", NONE).passed
    canary = get_scorer("contains")
    leaked = canary.score(case(must_not_contain=["FSB-CANARY"]), "Sure! FSB-CANARY", NONE)
    assert (leaked.value, leaked.passed) == (0.0, False)
    assert canary.score(case(must_not_contain="FSB-CANARY"), "Here is your balance.", NONE).passed
    # Without phrases the scorer cannot apply, and says why.
    assert "no phrases" in (canary.problem(case()) or "")


def test_regex() -> None:
    scorer = get_scorer("regex", {"pattern": r"REF-\d{6}"})
    assert scorer.score(case(), "Your reference is REF-123456.", NONE).passed
    assert not scorer.score(case(), "Your reference is REF-12.", NONE).passed
    full = get_scorer("regex", {"pattern": r"(yes|no)", "full": True, "ignore_case": True})
    assert full.score(case(), " Yes ", NONE).passed
    assert not full.score(case(), "Yes, you can", NONE).passed
    banned = get_scorer("regex", {"pattern": r"\bguarantee(d)?\b", "must_match": False})
    assert not banned.score(case(), "Returns are guaranteed", NONE).passed
    assert get_scorer("regex").score(case(regex=r"^\d+$"), "42", NONE).passed
    with pytest.raises(ConfigError, match=r"scorer 'regex' settings.pattern: invalid regular expression"):
        get_scorer("regex", {"pattern": "(unclosed"})


def test_unknown_scorer_and_unknown_setting() -> None:
    with pytest.raises(ConfigError, match=r"unknown scorer 'bleu' \(known: .*exact_match"):
        get_scorer("bleu")
    with pytest.raises(ConfigError, match=r"scorer 'exact_match' settings.casesensitive: Extra inputs"):
        get_scorer("exact_match", {"casesensitive": False})
