"""The PII guard: finds HK personal data and masks it, swaps in a typed placeholder, or blocks.

Placeholders come from the request's `ConversationState`, so the same HKID is `<HKID_1>` in every
message and the model can still reason about "the customer's ID" without ever seeing it.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

from pydantic import Field, field_validator

from finsandbox.guards.base import (
    Action,
    Decision,
    Guard,
    GuardContext,
    GuardSettings,
    Lookahead,
    Span,
    guard,
)
from finsandbox.guards.pii import detect, entity_types, ner
from finsandbox.guards.pii.hk_names import ENGLISH_GIVEN, GIVEN_SYLLABLES, SURNAMES
from finsandbox.guards.pii.recognizer import CONTEXT_BEFORE

# Words that can be part of a value (digits, capitals, a leading + or opening bracket), at the end.
_VALUE_WORD = r"(?:[+(]?\S*[0-9]\S*|[A-Z][A-Za-z()/-]*[,.]?|\S*[\u3400-\u9fff]\S*)"
_VALUE_RUN = re.compile(rf"(?:(?<=\s)|^){_VALUE_WORD}(?:\s+{_VALUE_WORD}){{0,12}}\s*\S*$")

# A streamed word can begin a finding only if it could be part of one: a word of lower-case letters
# (apostrophes and hyphens inside) cannot, unless it names a month (a date of birth may begin
# "march 3"); nor can a capitalised word that only opens sentences and is no name, month, surname or
# given-name syllable ("The", "I", "Sure"; not "May", "So", "To", "Wing"). Everything else (digits,
# capitals, @, +, brackets, CJK) could.
_PLAIN_WORD = re.compile(r"[a-z]+(?:['’-][a-z]+)*[,.;:!?)\]\"'’”]*")
_TRAILING = ",.;:!?)]\"'’”"
_MONTH_TEXT = """jan january feb february mar march apr april may jun june jul july aug august sep sept
    september oct october nov november dec december"""
_MONTHS = frozenset(_MONTH_TEXT.split())
_NAME_WORDS = frozenset(w.lower() for w in SURNAMES | GIVEN_SYLLABLES | ENGLISH_GIVEN)
_OPENER_TEXT = """
    I I'm I've I'll I'd The This That These Those It It's Its We We're Our You You're Your They Their
    There Here Hi Hello Dear Thanks Thank Yes No Sure Certainly Of In On At For As If When While Please
    Unfortunately However Based According Currently Great Okay Absolutely Good Let Let's A An And But
    Or What How Why Which Who Is Are Can Could Would Should Do Does Note My Also Because After Before
    Once Since With Without Each Every All Any Some Most Many Both Regarding Overall First Firstly
    Second Secondly Finally Additionally Alternatively Generally Typically Usually Otherwise Instead
    Then Now Today Yesterday Tomorrow Unless Although Though Even Only Just Not None Nothing Yours
    Kind Best Regards Sincerely Understood Noted Apologies Sorry
    """
_OPENERS = frozenset(w for w in _OPENER_TEXT.split() if w.lower() not in _MONTHS | _NAME_WORDS)
_WORD = re.compile(r"\S+")
# A word that opens a line or follows a pipe or tab may be a table cell, and a name column's cells
# are names in any case ("chan tai man"), found only once the row is whole.
_CELL_BEFORE = re.compile(r"[\n|\t][ ]*$")
_CELL_SEP = re.compile(r"[|\t]")


def _could_begin_finding(word: str) -> bool:
    """Whether a finding (personal data) could start at this whole word of a streamed reply."""
    bare = word.rstrip(_TRAILING)
    if _PLAIN_WORD.fullmatch(word):
        return bare.lower() in _MONTHS
    return bare not in _OPENERS


PIIAction = Literal["placeholder", "mask", "block", "allow"]


class PIISettings(GuardSettings):
    entities: list[str] | None = Field(default=None, description="entity types to look for; all when absent")
    ner: bool = Field(default=False, description="use the spaCy model for person names (slower)")
    min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    default_action: PIIAction = "placeholder"
    actions: dict[str, PIIAction] = Field(
        default_factory=dict, description="per entity type, e.g. HKID: block"
    )
    mask_char: str = Field(default="*", min_length=1, max_length=1)

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            _check_entity_types(value)
        return value

    @field_validator("actions")
    @classmethod
    def _known_action_keys(cls, value: dict[str, PIIAction]) -> dict[str, PIIAction]:
        _check_entity_types(value)
        return value


def _check_entity_types(names: object) -> None:
    known = entity_types()
    unknown = [n for n in names if n not in known]  # type: ignore[attr-defined]
    if unknown:
        raise ValueError(f"unknown entity type(s) {', '.join(unknown)}; known: {', '.join(known)}")


@guard("pii")
class PIIGuard(Guard):
    Settings = PIISettings
    settings: PIISettings
    # Entities span a few words (a spaced card number, "Peter CHAN Tai Man"); a longer one (a grouped
    # IBAN) is still caught whole by the stream's straddle check. A context word may sit up to
    # `Recognizer.context_before` characters back in its sentence, so that much released text is
    # checked again with what follows.
    lookahead = Lookahead(words=4, behind=CONTEXT_BEFORE)

    def holdback(self, text: str, context: GuardContext, window: int) -> int:
        """The last word, back to the first of the last few words that could begin a finding; or more
        while the text ends in a run of value-like words.

        A finding spans at most `lookahead.words` words and begins with a word that could begin one
        (`_could_begin_finding`), so the words before the first such word among the last few are
        released at once: ordinary prose streams one word behind the model instead of four. A
        capitalised word waits its whole look-ahead even when a plain word follows it: the name model
        reads further right than one word ("signed by Grace on behalf of" is a name to it, "signed by
        Grace on" is not). A word that may open a table cell waits too (`_CELL_BEFORE`), and a pipe or
        tab table's unfinished row waits whole: a name column's cells are names in any case, and
        the table rule finds them only in whole rows. A grouped IBAN or a long account number can be
        longer than the look-ahead; while its words keep arriving they all wait, so it is whole in
        the checked text when its start is released.
        """
        words = list(_WORD.finditer(text))
        if not words:
            return 0
        hold_from = words[-1].start()  # the last word may still grow
        for word in words[-self.lookahead.words : -1]:
            cell = _CELL_BEFORE.search(text, max(0, word.start() - 40), word.start())
            if cell is not None:  # from the line break or pipe, so the next check still sees it
                hold_from = cell.start()
                break
            if _could_begin_finding(word.group()):
                hold_from = word.start()
                break
        row = text.rfind("\n")
        if row >= 0 and len(text) - row <= window and _CELL_SEP.search(text, row):
            hold_from = min(hold_from, row)  # a pipe or tab table's row waits until it is whole
        run = _VALUE_RUN.search(text, max(0, len(text) - window))
        if run is not None:  # from its first word that could begin a finding ("The" cannot)
            run_from = next(
                (w.start() for w in words if w.start() >= run.start() and _could_begin_finding(w.group())),
                hold_from,
            )
            hold_from = min(hold_from, run_from)
        return len(text) - hold_from

    def __init__(self, settings: PIISettings | dict | None = None) -> None:
        super().__init__(settings)
        if self.settings.ner:
            ner.load()  # pay the model load once, at policy load, not inside a guard timeout

    def action_for(self, entity_type: str) -> PIIAction:
        return self.settings.actions.get(entity_type, self.settings.default_action)

    def check(self, text: str, context: GuardContext) -> Decision:
        spans = detect(
            text, entities=self.settings.entities, ner=self.settings.ner, min_score=self.settings.min_score
        )
        acted = [s for s in spans if self.action_for(s.entity_type) != "allow"]
        if not acted:
            return self.allow(text, "no PII found" if not spans else "PII allowed by policy")
        score = max(s.score for s in acted)
        blocked = [s for s in acted if self.action_for(s.entity_type) == "block"]
        if blocked:
            return self.block(text, f"{context.direction} contains {_summary(blocked)}", score, tuple(acted))
        redacted = self._redact(text, acted, context)
        return Decision(
            self.name, Action.REDACT, redacted, f"redacted {_summary(acted)}", score, tuple(acted)
        )

    def _redact(self, text: str, spans: list[Span], context: GuardContext) -> str:
        parts: list[str] = []
        cursor = 0
        for span in spans:
            value = text[span.start : span.end]
            if self.action_for(span.entity_type) == "mask":
                replacement = "".join(self.settings.mask_char if ch.isalnum() else ch for ch in value)
            else:
                replacement = context.conversation.placeholder(
                    span.entity_type, value, keep=context.direction == "input"
                )
            parts.append(text[cursor : span.start])
            parts.append(replacement)
            cursor = span.end
        parts.append(text[cursor:])
        return "".join(parts)


def _summary(spans: list[Span]) -> str:
    """ "HKID x2, EMAIL x1": types and counts only, never values."""
    counts = Counter(s.entity_type for s in spans)
    return ", ".join(f"{t} x{n}" for t, n in sorted(counts.items()))
