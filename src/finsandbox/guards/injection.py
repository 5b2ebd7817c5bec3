"""Prompt-injection and jailbreak detection: a learned classifier, with pattern signals as features.

The decision comes from `injection_model` (hashed n-grams and these signals into a logistic
regression, weights shipped in the package); the signals below also stand as a second opinion, so a
payload hidden in base64 or tag characters still blocks. With `model: false` the guard is the
pattern scorer alone, as it was before the classifier.

Each signal (instruction override, role-play jailbreak, system-prompt extraction, chat-template
delimiters, indirect instructions in retrieved content, hidden characters, homoglyphs) carries a
weight; the pattern score is their noisy-OR, so two weak signals add up but never exceed 1. Text is folded
(NFKC, homoglyphs, invisibles) and also read as leetspeak, rot13, and decoded base64/hex, because
hiding a payload is itself evidence: a hit found only in a decoded form gets a bonus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from finsandbox.guards.base import Decision, Guard, GuardContext, GuardSettings, guard
from finsandbox.guards.injection_model import InjectionModel, load_model
from finsandbox.guards.text import (
    decoded_payloads,
    fold,
    hidden_characters,
    mixed_script_words,
    rot13,
    unleet,
)


@dataclass(frozen=True)
class Signal:
    category: str
    weight: float
    regex: re.Pattern[str]


def _s(category: str, weight: float, pattern: str) -> Signal:
    return Signal(category, weight, re.compile(pattern))


_VERBS_IGNORE = r"(?:ignore|disregard|forget|skip|override|bypass|neglect|drop|abandon)"
_PRIOR = (
    r"(?:previous|prior|above|earlier|preceding|all|any|your|the|these|those|system|original"
    r"|initial|existing)"
)
_RULES = (
    r"(?:instructions?|rules?|prompts?|directions?|directives?|guidelines?|guardrails?|constraints?|"
    r"polic(?:y|ies)|programming|restrictions?|commands?)"
)
_REVEAL = (
    r"(?:reveal|show|print|display|repeat|output|tell me|give me|share|leak|dump|write out"
    r"|recite|expose|list)"
)
_SECRET_PROMPT = (
    r"(?:system|initial|hidden|original|secret|developer|internal|pre-?"
    r")[ -]?(?:prompt|instructions?|message|rules)"
)

DIRECT_SIGNALS = (
    _s(
        "instruction_override",
        0.8,
        rf"\b{_VERBS_IGNORE}\b[\w ,'-]{{0,30}}?\b{_PRIOR}\b[\w ,'-]{{0,25}}?\b{_RULES}\b",
    ),
    _s(
        "instruction_override",
        0.7,
        rf"\bdo not (?:follow|obey|listen to) (?:your|the|any) [\w ]{{0,15}}{_RULES}",
    ),
    _s(
        "instruction_override",
        0.5,
        r"\b(?:new|updated|real|actual) (?:instructions?|rules|task|objective)\s*:",
    ),
    _s(
        "instruction_override",
        0.35,
        r"\b(?:from now on|henceforth|starting now),? you (?:will|are|must|shall)\b",
    ),
    _s(
        "instruction_override",
        0.8,
        r"(?:忽略|無視|无视|忘記|忘记|不要理會|不要理会).{0,8}(?:之前|以上|先前|前面|所有|上述).{0,8}(?:指示|指令|規則|规则|提示)",
    ),
    _s("roleplay_jailbreak", 0.85, r"\bdo anything now\b|\byou are (?:now )?(?:dan|stan|dude|aim)\b"),
    _s(
        "roleplay_jailbreak",
        0.8,
        r"\byou are (?:now )?(?:an? )?(?:unfiltered|uncensored|unrestricted|jailbroken|unaligned"
        r"|amoral|evil)\b",
    ),
    _s("roleplay_jailbreak", 0.6, r"\b(?:developer|god|debug|sudo|admin|jailbreak|dan) mode\b"),
    _s("roleplay_jailbreak", 0.55, r"\bjailbr(?:eak|oken|eaking)\b"),
    _s(
        "roleplay_jailbreak",
        0.75,
        r"\b(?:pretend|imagine|act|behave|roleplay|role-play|role play|respond)\b.{0,50}?\b(?:no"
        r"|without|free (?:of|from)|"
        r"not bound by|ignor\w*|beyond)\b.{0,25}?\b(?:restrictions?|rules|filters?|limits"
        r"|limitations|guidelines|"
        r"ethics|morals|censorship|polic(?:y|ies)|safeguards)\b",
    ),
    _s(
        "roleplay_jailbreak",
        0.4,
        r"\bstay in character\b|\b(?:opposite|evil|unfiltered|uncensored) (?:mode|twin|version|ai)\b",
    ),
    _s("prompt_extraction", 0.8, rf"\b{_REVEAL}\b.{{0,40}}?\b{_SECRET_PROMPT}\b"),
    _s("prompt_extraction", 0.6, rf"\bwhat (?:are|were|is|was) (?:your|the) {_SECRET_PROMPT}\b"),
    _s(
        "prompt_extraction",
        0.6,
        rf"\b{_REVEAL}\b.{{0,15}}\byour (?:instructions|prompt|rules|guidelines|directives)\b",
    ),
    _s(
        "prompt_extraction",
        0.7,
        r"\b(?:repeat|print|output|copy|recite)\b.{0,25}?\b(?:everything|all|the (?:text|words"
        r"|content)|text|words)"
        r"\b.{0,25}?\b(?:above|before this|preceding|so far|verbatim)\b",
    ),
    _s(
        "prompt_extraction",
        0.75,
        r"(?:顯示|显示|輸出|输出|告訴|告诉|重複|重复|透露).{0,10}(?:系統|系统)(?:提示|指令|訊息|消息)",
    ),
    _s(
        "delimiter_injection",
        0.6,
        r"<\|?(?:im_start|im_end|system|endoftext|eot_id|start_header_id)\|?>|\[/?(?:inst|sys)\]|<</?sys>>",
    ),
    _s("delimiter_injection", 0.45, r"(?:^|\n)\s*(?:#{2,}|\[|<)\s*(?:system|developer)\s*(?:\]|>|:)"),
    _s(
        "encoded_instruction",
        0.5,
        r"\b(?:decode|decrypt|translate|convert)\b.{0,30}?\b(?:base64|base-64|hex|rot13|rot-13"
        r"|binary|cipher)\b.{0,40}?"
        r"\b(?:follow|execute|run|obey|do (?:it|what|as)|instructions?|comply)\b",
    ),
)

# Only for content the caller marks as retrieved (documents, web pages, tool results): text that
# addresses the model is normal in a user turn but is an attack inside a document.
INDIRECT_SIGNALS = (
    _s(
        "indirect_injection",
        0.6,
        r"\b(?:ai|assistant|chatbot|language model|llm|gpt|model|bot|agent)\b[,:]? (?:please )?"
        r"(?:you must|must|should|ignore|disregard|do not|don't|instead|now|always|never)\b",
    ),
    _s(
        "indirect_injection",
        0.65,
        r"\b(?:note|message|instructions?|reminder) (?:to|for) (?:the |any )?(?:ai|assistant|model"
        r"|llm|chatbot|bot|agent)s?\b",
    ),
    _s(
        "indirect_injection",
        0.5,
        r"\bwhen (?:you )?(?:summari[sz]e|summari[sz]ing|read|reading|process|processing|answer"
        r"|answering)\b.{0,30}?"
        r"\b(?:this|the) (?:document|page|email|text|content|file)\b",
    ),
    _s(
        "exfiltration",
        0.6,
        r"!\[[^\]]*\]\(https?://[^)\s]*[?&][^)\s]*=|\b(?:send|forward|post|upload|exfiltrate"
        r")\b.{0,40}?\b(?:to|at)\b (?:https?://|[\w.+-]+@[\w-]+\.)",
    ),
    _s(
        "instruction_override",
        0.5,
        r"\b(?:your new task|instead,? (?:you should|tell|say|respond|reply|write))\b",
    ),
)

_HIDDEN_BONUS = 0.1


class InjectionSettings(GuardSettings):
    model: bool = Field(
        default=True,
        description="score with the learned classifier (off: the pattern signals alone, the old guard)",
    )
    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="block at or above this score; unset: the threshold the model was trained with "
        "(0.5 for patterns only)",
    )
    retrieved_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="threshold for retrieved content; unset: as `threshold`"
    )
    pattern_threshold: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="a pattern score this high blocks on its own (second opinion for hidden payloads)",
    )
    model_path: str | None = Field(
        default=None,
        description="weights file retrained with bench/injection/train.py; unset: the packaged model",
    )
    check_system: bool = Field(
        default=False, description="also scan system messages (the operator's own text)"
    )
    decode: bool = Field(default=True, description="look inside base64, hex, rot13 and leetspeak")


@guard("injection")
class InjectionGuard(Guard):
    """Learned classifier over n-grams and pattern signals; strong pattern hits are a second opinion.

    The score is the model's probability of injection (see `injection_model`), raised to the pattern
    score when the patterns alone reach `pattern_threshold` (a decoded base64 order, tag-character
    smuggling). A missing or mismatched weights file raises, and the pipeline fails closed.
    """

    Settings = InjectionSettings
    settings: InjectionSettings

    def __init__(self, settings: GuardSettings | dict[str, Any] | None = None) -> None:
        super().__init__(settings)
        if self.settings.model:
            self.model()  # a missing or mismatched weights file stops the policy loading, not a request

    def model(self) -> InjectionModel:
        return load_model(self.settings.model_path)

    def check(self, text: str, context: GuardContext) -> Decision:
        if (context.role == "system" or context.source == "system") and not self.settings.check_system:
            return self.allow(text, "system message not scanned")
        retrieved = context.source == "retrieved" or context.role == "tool"
        hits, folded = self._signals(text, retrieved=retrieved)
        pattern_score = _noisy_or(hits.values())
        threshold = self.settings.threshold
        if self.settings.model:
            model = self.model()
            if threshold is None:
                threshold = model.threshold
            # One line folds as `fold_lines` folds it: the model need not fold the text again.
            lines = folded if "\n" not in text else None
            probability = round(model.probability(text, hits, folded=lines), 4)
            score = probability
            if pattern_score >= self.settings.pattern_threshold:
                score = max(score, pattern_score)
            parts = [f"model {probability:.2f}"]
        else:
            threshold = 0.5 if threshold is None else threshold
            score = pattern_score
            parts = []
        if retrieved and self.settings.retrieved_threshold is not None:
            threshold = self.settings.retrieved_threshold
        parts += [f"{name} ({weight:.2f})" for name, weight in sorted(hits.items(), key=lambda kv: -kv[1])]
        reason = ", ".join(parts) or "no injection signals"
        if retrieved and (hits or score >= threshold):
            reason = "in retrieved content: " + reason
        if score >= threshold:
            return self.block(text, reason, score)
        return self.allow(text, reason, score)

    def signals(self, text: str, *, retrieved: bool = False) -> dict[str, float]:
        """Signal name -> weight, the strongest weight per name."""
        return self._signals(text, retrieved=retrieved)[0]

    def _signals(self, text: str, *, retrieved: bool) -> tuple[dict[str, float], str]:
        """`signals`, and the folded text they read (`check` hands it on to the model)."""
        hits: dict[str, float] = {}

        def add(name: str, weight: float) -> None:
            hits[name] = max(hits.get(name, 0.0), min(weight, 0.95))

        signals = DIRECT_SIGNALS + INDIRECT_SIGNALS if retrieved else DIRECT_SIGNALS
        invisible, bidi, smuggled = hidden_characters(text)
        if bidi:
            add("bidi_control_characters", 0.5)
        if invisible:
            add("invisible_characters", 0.25 if invisible < 3 else 0.4)
        if smuggled:
            add("tag_character_smuggling", 0.6)
        if (mixed := mixed_script_words(text)) > 0:
            add("homoglyphs", 0.3 if mixed < 3 else 0.45)

        folded = fold(text)
        variants: list[tuple[str | None, str]] = [(None, folded)]
        if smuggled:
            variants.append(("tag characters", fold(smuggled)))
        if self.settings.decode:
            if (leet := unleet(folded)) is not None:
                variants.append(("leetspeak", leet))
            variants.append(("rot13", rot13(folded)))
            variants.extend((enc, fold(decoded)) for enc, decoded in decoded_payloads(text))
        hidden = bool(invisible or bidi or mixed)
        plain_hits: set[int] = set()
        for hiding, variant in variants:
            for i, signal in enumerate(signals):
                if hiding is not None and i in plain_hits:
                    continue  # already visible in plain text; a decoding adds nothing (e.g. rot13 of Chinese)
                if signal.regex.search(variant):
                    if hiding is None:
                        plain_hits.add(i)
                    bonus = _HIDDEN_BONUS if (hiding or hidden) else 0.0
                    name = signal.category if hiding is None else f"{signal.category} via {hiding}"
                    add(name, signal.weight + bonus)
        return hits, folded


def _noisy_or(weights: object) -> float:
    miss = 1.0
    for weight in weights:  # type: ignore[attr-defined]
        miss *= 1.0 - weight
    return round(1.0 - miss, 4)
