"""LLM-as-judge: only with a configured judge, identity on every score, agreement with humans."""

from __future__ import annotations

import asyncio
import json

import pytest

from finsandbox.errors import ConfigError
from finsandbox.evals import Case, Evidence, Recipe, bind_recipe, get_scorer
from finsandbox.evals.scorers.llm_judge import JudgeError, parse_judgement

RUBRIC = {"rubric": "5 = accurate, polite and complete; 1 = wrong or rude."}
NONE = Evidence()


class FakeJudge:
    """Replies with scripted scores and records what it was asked."""

    def __init__(self, replies: list[str], identity: str = "ws-1/judge model=qwen2.5-7b") -> None:
        self.replies = list(replies)
        self.identity = identity
        self.seen: list[list[dict[str, str]]] = []

    def __call__(self, messages: list[dict[str, str]]) -> str:
        self.seen.append(messages)
        return self.replies.pop(0)


class AsyncJudge(FakeJudge):
    async def __call__(self, messages: list[dict[str, str]]) -> str:  # type: ignore[override]
        await asyncio.sleep(0)
        return super().__call__(messages)


def case(**expected: object) -> Case:
    return Case(
        id="j",
        input="How do I reset my PIN?",
        expected={"answer": "Use the app's card settings.", **expected},
    )


def test_no_judge_is_a_config_error_never_a_fallback() -> None:
    with pytest.raises(ConfigError, match="no judge endpoint is configured"):
        get_scorer("llm_judge", RUBRIC)
    recipe = Recipe(name="tone", cases=[case()], scorers=[{"name": "llm_judge", "settings": RUBRIC}])
    with pytest.raises(ConfigError, match="recipe 'tone' uses llm_judge but no judge endpoint is configured"):
        bind_recipe(recipe)
    bound = bind_recipe(recipe, judge=FakeJudge([]))
    assert bound.scorers[0].scorer.identity == "ws-1/judge model=qwen2.5-7b"


def test_a_judge_without_identity_is_refused() -> None:
    with pytest.raises(ConfigError, match="no identity"):
        get_scorer("llm_judge", RUBRIC, judge=FakeJudge([], identity=" "))


def test_score_records_judge_identity_and_normalises() -> None:
    judge = FakeJudge([json.dumps({"score": 4, "reason": "Accurate but terse."})])
    scorer = get_scorer("llm_judge", RUBRIC, judge=judge)
    result = scorer.score(case(), "Open the app, go to card settings, choose Reset PIN.", NONE)
    assert result.value == pytest.approx(0.75) and result.passed
    assert result.details["judge"] == "ws-1/judge model=qwen2.5-7b" and result.details["judge_score"] == 4
    prompt = judge.seen[0][1]["content"]
    assert RUBRIC["rubric"] in prompt and "Use the app's card settings." in prompt and "Reset PIN" in prompt


def test_async_judge_through_ascore() -> None:
    judge = AsyncJudge(["Score: 2 - misses the app route."])
    scorer = get_scorer("llm_judge", {**RUBRIC, "include_reference": False}, judge=judge)
    result = asyncio.run(scorer.ascore(case(), "Visit a branch.", NONE))
    assert result.value == pytest.approx(0.25) and not result.passed
    assert "REFERENCE" not in judge.seen[0][1]["content"]


def test_off_format_or_failing_judge_raises() -> None:
    with pytest.raises(JudgeError, match="replied without a score"):
        get_scorer("llm_judge", RUBRIC, judge=FakeJudge(["Looks fine to me."])).score(case(), "x", NONE)
    with pytest.raises(JudgeError, match="outside the scale 1-5"):
        get_scorer("llm_judge", RUBRIC, judge=FakeJudge(['{"score": 9}'])).score(case(), "x", NONE)

    def broken(messages: list[dict[str, str]]) -> str:
        raise TimeoutError("judge timed out")

    broken.identity = "ws-1/judge"  # type: ignore[attr-defined]
    with pytest.raises(JudgeError, match="judge ws-1/judge failed: judge timed out"):
        get_scorer("llm_judge", RUBRIC, judge=broken).score(case(), "x", NONE)  # type: ignore[arg-type]


def test_parse_judgement_forms() -> None:
    assert parse_judgement('noise {"score": 3, "reason": "ok"} tail') == (3.0, "ok")
    assert parse_judgement("SCORE = 5")[0] == 5.0  # type: ignore[index]
    assert parse_judgement('{"score": true}') is None


def test_agreement_with_human_labels() -> None:
    judge_scores = [5, 4, 2, 1, 4, 3]
    human_scores = [5, 4, 1, 1, 2, 3]
    judge = FakeJudge([json.dumps({"score": s}) for s in judge_scores])
    scorer = get_scorer("llm_judge", RUBRIC, judge=judge)
    results = []
    for h in human_scores:
        c = case(human_score=h, human_label="pass" if h >= 4 else "fail")
        results.append((c, "out", scorer.score(c, "out", NONE)))
    agg = scorer.aggregate(results)
    assert agg["judge"] == "ws-1/judge model=qwen2.5-7b"
    by_score = agg["agreement"]["score"]
    assert by_score["n"] == 6 and by_score["percent_agreement"] == pytest.approx(4 / 6)
    # Cohen's kappa by hand: p_o = 4/6; p_e = (2*1 + 1*2 + 1*1 + 1*1 + 1*1)/36 = 7/36
    assert by_score["cohen_kappa"] == pytest.approx((4 / 6 - 7 / 36) / (1 - 7 / 36))
    pass_fail = agg["agreement"]["pass_fail"]
    # judge passes at >= 0.75 (score >= 4): [T, T, F, F, T, F]; humans [T, T, F, F, F, F]
    assert pass_fail["percent_agreement"] == pytest.approx(5 / 6)
    assert pass_fail["cohen_kappa"] == pytest.approx((5 / 6 - 0.5) / 0.5)


def test_aggregate_names_the_judge_recorded_in_the_scores() -> None:
    scorer = get_scorer("llm_judge", RUBRIC, judge=FakeJudge(['{"score": 5}']))
    c = case()
    result = scorer.score(c, "o", NONE)
    stand_in = get_scorer("llm_judge", RUBRIC, judge=FakeJudge([], identity="none (aggregation only)"))
    assert stand_in.aggregate([(c, "o", result)])["judge"] == "ws-1/judge model=qwen2.5-7b"


def test_no_human_labels_means_no_agreement_report() -> None:
    scorer = get_scorer("llm_judge", RUBRIC, judge=FakeJudge(['{"score": 5}']))
    c = case()
    assert scorer.aggregate([(c, "o", scorer.score(c, "o", NONE))])["agreement"] is None
