"""Boundaries on personalised investment advice in output (SFC/HKMA suitability obligations).

A general-purpose model must not tell a customer what to buy, promise returns, or size their
portfolio; such replies are blocked, or (by default) carry a disclaimer pointing to a licensed adviser.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from finsandbox.guards.base import (
    Action,
    Decision,
    Guard,
    GuardContext,
    GuardSettings,
    Lookahead,
    StreamScope,
    append_text,
    guard,
)
from finsandbox.guards.text import fold

DEFAULT_DISCLAIMER = (
    "This is general information, not investment advice or a recommendation. Investments carry risk; "
    "please speak to a licensed representative about what suits your circumstances."
)
_ACT = r"(?:buy|sell|invest|put|allocate|switch|move|purchase|short|hold|subscribe)"
_RECOMMEND = (
    r"\b(?:you should|you ought to|i (?:would |strongly )?(?:recommend|suggest|advise)(?: that)?(?: you)?|"
    r"i'd (?:recommend|suggest)|my (?:recommendation|advice) (?:is|would be)|"
    r"the best (?:option|choice|investment|fund|stock) for you)\b"
)
_GUARANTEE = (
    r"\b(?:guaranteed|risk-free|risk free|can't lose|cannot lose|no risk|sure-fire|surefire)\b.{0,30}?"
    r"\b(?:returns?|profits?|gains?|investments?|income|yield)\b|"
    r"\b(?:returns?|profits?|gains?) (?:are|is) guaranteed\b"
)
_SIZING = (
    rf"\b{_ACT}\b.{{0,20}}?\b(?:\d{{1,3}} ?%|all|half|most|everything) (?:of )?your "
    r"(?:savings|portfolio|money|mpf|pension|funds|net worth|retirement)\b"
)
_SECURITY = (
    rf"\b(?:you should|i recommend|go ahead and) {_ACT}\b.{{0,30}}?"
    r"(?:\b\d{4}\.hk\b|\bshares? (?:of|in)\b|\bstocks? (?:of|in)\b)"
)
SIGNALS: tuple[tuple[str, float, re.Pattern[str]], ...] = (
    ("personal_recommendation", 0.7, re.compile(rf"{_RECOMMEND}.{{0,40}}?\b{_ACT}\b")),
    ("guaranteed_returns", 0.8, re.compile(_GUARANTEE)),
    ("portfolio_sizing", 0.6, re.compile(_SIZING)),
    ("specific_security", 0.5, re.compile(_SECURITY)),
)


class InvestmentAdviceSettings(GuardSettings):
    action: Literal["block", "disclaim"] = "disclaim"
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    disclaimer: str = Field(default=DEFAULT_DISCLAIMER, min_length=1)


@guard("investment_advice")
class InvestmentAdviceGuard(Guard):
    Settings = InvestmentAdviceSettings
    settings: InvestmentAdviceSettings
    directions = ("output",)
    lookahead = Lookahead(words=8, sentence=True, behind=64)  # its signals span a sentence

    @property
    def stream_scope(self) -> StreamScope:
        return "window" if self.settings.action == "block" else "final"

    def check(self, text: str, context: GuardContext) -> Decision:
        folded = fold(text)
        hits = {name: weight for name, weight, regex in SIGNALS if regex.search(folded)}
        miss = 1.0
        for weight in hits.values():
            miss *= 1.0 - weight
        score = round(1.0 - miss, 4)
        if score < self.settings.threshold:
            return self.allow(text, "no personalised advice", score)
        reason = "personalised investment advice: " + ", ".join(sorted(hits))
        if self.settings.action == "block":
            return self.block(text, reason, score)
        if self.settings.disclaimer in text:
            return self.allow(text, reason + " (disclaimer present)", score)
        return Decision(self.name, Action.REDACT, append_text(text, self.settings.disclaimer), reason, score)
