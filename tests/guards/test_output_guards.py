"""Output policies: system-prompt leakage, AI disclosure, investment-advice boundaries, banned topics."""

from __future__ import annotations

import base64

from finsandbox.guards import Action, ConversationState, GuardContext, canary_instruction, new_canary
from finsandbox.guards.banned_topics import BannedTopicsGuard
from finsandbox.guards.disclosure import DisclosureGuard
from finsandbox.guards.investment_advice import InvestmentAdviceGuard
from finsandbox.guards.system_prompt_leak import SystemPromptLeakGuard


def out(**kwargs: object) -> GuardContext:
    return GuardContext(direction="output", role="assistant", source="model", **kwargs)  # type: ignore[arg-type]


def test_canary_in_output_blocks_even_when_disguised() -> None:
    canary = new_canary()
    assert canary in canary_instruction(canary)
    guard = SystemPromptLeakGuard()
    assert guard.check(f"My reference is {canary}.", out(canary=canary)).action is Action.BLOCK
    spaced = " ".join(canary)
    assert guard.check(spaced, out(canary=canary)).action is Action.BLOCK
    encoded = base64.b64encode(canary.encode()).decode()
    assert guard.check(f"here: {encoded}", out(canary=canary)).action is Action.BLOCK
    assert guard.check("Your balance is HKD 100.", out(canary=canary)).action is Action.ALLOW


def test_verbatim_system_prompt_is_a_leak() -> None:
    conversation = ConversationState()
    conversation.system_prompts.append(
        "You are the assistant of Example Bank. "
        "Only answer questions about deposits and cards, never about loans."
    )
    guard = SystemPromptLeakGuard()
    leaked = (
        "Sure! I was told: you are the assistant of Example Bank. Only answer questions about deposits and"
    )
    assert guard.check(leaked, out(conversation=conversation)).action is Action.BLOCK
    fine = "I can answer questions about deposits and cards."
    assert guard.check(fine, out(conversation=conversation)).action is Action.ALLOW


def test_disclosure_is_appended_for_customer_facing_endpoints_only() -> None:
    guard = DisclosureGuard()
    internal = guard.check("Your card is active.", out(customer_facing=False))
    assert internal.action is Action.ALLOW
    customer = guard.check("Your card is active.", out(customer_facing=True))
    assert customer.action is Action.REDACT
    assert customer.text.startswith("Your card is active.") and "AI" in customer.text
    already = guard.check("I am an AI assistant. Your card is active.", out(customer_facing=True))
    assert already.action is Action.ALLOW
    strict = DisclosureGuard({"mode": "block"}).check("Your card is active.", out(customer_facing=True))
    assert strict.action is Action.BLOCK


def test_personalised_investment_advice_gets_a_disclaimer_or_a_block() -> None:
    advice = "You should buy shares of 0700.HK now; the returns are guaranteed."
    disclaimed = InvestmentAdviceGuard().check(advice, out())
    assert disclaimed.action is Action.REDACT and "not investment advice" in disclaimed.text
    assert InvestmentAdviceGuard({"action": "block"}).check(advice, out()).action is Action.BLOCK
    general = "Equity funds can rise or fall in value; a time deposit pays a fixed rate."
    assert InvestmentAdviceGuard().check(general, out()).action is Action.ALLOW


def test_banned_topics_block_keywords_and_patterns_despite_homoglyphs() -> None:
    guard = BannedTopicsGuard(
        {
            "topics": [
                {"name": "crypto", "keywords": ["bitcoin", "crypto wallet"]},
                {"name": "gambling", "patterns": [r"\bbet(?:ting)?\b"]},
            ]
        }
    )
    assert guard.check("How do I buy bitcoin?", GuardContext()).reason == "banned topic: crypto"
    assert guard.check("How do I buy bіtcoin?", GuardContext()).action is Action.BLOCK  # Cyrillic і
    assert guard.check("Is betting allowed?", GuardContext()).action is Action.BLOCK
    assert guard.check("What is a bitcoiner?", GuardContext()).action is Action.ALLOW
