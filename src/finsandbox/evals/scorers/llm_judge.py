"""LLM-as-judge against a rubric, only through a configured judge endpoint.

There is no default judge and no fallback: a recipe that uses this scorer without a judge fails
when it is bound, and a judge that fails or answers off-format raises rather than guessing. Every
score records the judge's identity; with human labels in the dataset, the aggregate reports how
far the judge agrees with people (percent agreement and Cohen's kappa).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from typing import Any

from pydantic import Field, model_validator

from finsandbox.errors import ConfigError
from finsandbox.evals.metrics import cohen_kappa, percent_agreement
from finsandbox.evals.model import Case
from finsandbox.evals.scorers.base import (
    Evidence,
    Judge,
    JudgeError,
    Result,
    Score,
    Scorer,
    ScorerSettings,
    scorer,
)
from finsandbox.evals.scorers.exact_match import accepted_answers
from finsandbox.evals.scorers.groundedness import contexts_for

JUDGE_SYSTEM = (
    "You are an impartial evaluator of a financial institution's AI assistant. Grade the RESPONSE "
    "against the RUBRIC only. Reply with a JSON object and nothing else: "
    '{{"score": <integer from {lo} to {hi}>, "reason": "<one or two sentences>"}}.'
)


class LlmJudgeSettings(ScorerSettings):
    rubric: str = Field(min_length=1)
    scale_min: int = 1
    scale_max: int = 5
    include_reference: bool = True
    include_context: bool = False

    @model_validator(mode="after")
    def _scale(self) -> LlmJudgeSettings:
        if self.scale_max <= self.scale_min:
            raise ValueError("scale_max must be greater than scale_min")
        return self


_SCORE_TEXT = re.compile(r"\bscore\b\W{0,3}(-?\d+(?:\.\d+)?)", re.IGNORECASE)


def parse_judgement(reply: str) -> tuple[float, str] | None:
    """(score, reason) from a JSON reply, or from a "Score: 4" line; None when there is none."""
    for m in re.finditer(r"\{.*?\}", reply, re.DOTALL):
        try:
            data = json.loads(m.group(0))
        except ValueError:
            continue
        if (
            isinstance(data, dict)
            and isinstance(data.get("score"), int | float)
            and not isinstance(data.get("score"), bool)
        ):
            return float(data["score"]), str(data.get("reason", ""))
    m = _SCORE_TEXT.search(reply)
    if m:
        return float(m.group(1)), reply.strip()[:300]
    return None


@scorer("llm_judge")
class LlmJudge(Scorer):
    Settings = LlmJudgeSettings
    default_threshold = 0.75
    requires_judge = True

    def __init__(
        self,
        settings: Any = None,
        *,
        threshold: float | None = None,
        judge: Judge | None = None,
    ) -> None:
        if judge is None:
            raise ConfigError(
                "scorer 'llm_judge' needs a judge endpoint, but no judge endpoint is configured"
            )
        if not str(getattr(judge, "identity", "") or "").strip():
            raise ConfigError("the judge endpoint has no identity; scores could not say who judged them")
        super().__init__(settings, threshold=threshold, judge=judge)
        self.identity: str = judge.identity

    def messages(self, case: Case, output: str, evidence: Evidence) -> list[dict[str, str]]:
        s: LlmJudgeSettings = self.settings  # type: ignore[assignment]
        parts = [f"RUBRIC:\n{s.rubric}", f"QUESTION:\n{case.user_text}"]
        references = accepted_answers(case)
        if s.include_reference and references:
            parts.append("REFERENCE ANSWER:\n" + " | ".join(references))
        if s.include_context:
            docs = contexts_for(case, evidence)
            parts.append("CONTEXT:\n" + "\n\n".join(f"[{d['id']}] {d['text']}" for d in docs))
        parts.append(f"RESPONSE:\n{output}")
        return [
            {"role": "system", "content": JUDGE_SYSTEM.format(lo=s.scale_min, hi=s.scale_max)},
            {"role": "user", "content": "\n\n".join(parts)},
        ]

    def _verdict(self, reply: str) -> Score:
        s: LlmJudgeSettings = self.settings  # type: ignore[assignment]
        parsed = parse_judgement(reply)
        if parsed is None:
            raise JudgeError(f"judge {self.identity} replied without a score: {reply[:200]!r}")
        raw, reason = parsed
        if not s.scale_min <= raw <= s.scale_max:
            raise JudgeError(
                f"judge {self.identity} gave {raw:g}, outside the scale {s.scale_min}-{s.scale_max}"
            )
        value = (raw - s.scale_min) / (s.scale_max - s.scale_min)
        return self.result(
            value,
            f"judge score {raw:g}/{s.scale_max}: {reason}"
            if reason
            else f"judge score {raw:g}/{s.scale_max}",
            judge=self.identity,
            judge_score=raw,
            reason=reason,
        )

    async def ascore(self, case: Case, output: str, evidence: Evidence) -> Score:
        assert self.judge is not None
        try:
            reply = self.judge(self.messages(case, output, evidence))
            if inspect.isawaitable(reply):
                reply = await reply
        except JudgeError:
            raise
        except Exception as exc:
            raise JudgeError(f"judge {self.identity} failed: {exc}") from exc
        return self._verdict(str(reply))

    def score(self, case: Case, output: str, evidence: Evidence) -> Score:
        """Synchronous use (tests, scripts); inside an event loop call `ascore`."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.ascore(case, output, evidence))
        raise RuntimeError("llm_judge.score() was called inside an event loop; await ascore() instead")

    def aggregate(self, results: list[Result]) -> dict[str, Any]:
        """Mean and pass rate, plus agreement with expected.human_score / expected.human_label."""
        out = super().aggregate(results)
        # Who judged is read from the scores, not from this instance: a summary rebuilt later
        # may be bound to a stand-in judge.
        judges = sorted({str(sc.details["judge"]) for _, _, sc in results if "judge" in sc.details})
        out["judge"] = judges[0] if len(judges) == 1 else (judges or None)
        s: LlmJudgeSettings = self.settings  # type: ignore[assignment]
        scored = [(c, sc) for c, _, sc in results]
        by_score = [
            (round(float(c.expected["human_score"])), round(float(sc.details["judge_score"])))
            for c, sc in scored
            if c.expected.get("human_score") is not None and "judge_score" in sc.details
        ]
        by_label = [
            (_as_pass(c.expected["human_label"]), sc.passed)
            for c, sc in scored
            if c.expected.get("human_label") is not None and _as_pass(c.expected["human_label"]) is not None
        ]
        agreement: dict[str, Any] = {}
        if by_score:
            humans, judges = zip(*by_score, strict=True)
            agreement["score"] = {
                "n": len(by_score),
                "percent_agreement": percent_agreement(humans, judges),
                "cohen_kappa": cohen_kappa(humans, judges),
                "scale": [s.scale_min, s.scale_max],
            }
        if by_label:
            humans_l, judges_l = zip(*by_label, strict=True)
            agreement["pass_fail"] = {
                "n": len(by_label),
                "percent_agreement": percent_agreement(humans_l, judges_l),
                "cohen_kappa": cohen_kappa(humans_l, judges_l),
            }
        out["agreement"] = agreement or None
        return out


def _as_pass(label: object) -> bool | None:
    if isinstance(label, bool):
        return label
    text = str(label).strip().lower()
    if text in {"pass", "passed", "yes", "good", "acceptable", "true", "1"}:
        return True
    if text in {"fail", "failed", "no", "bad", "unacceptable", "false", "0"}:
        return False
    return None
