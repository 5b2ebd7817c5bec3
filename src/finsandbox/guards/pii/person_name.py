"""Person names: spaCy NER when the policy pays for it, and cheap title/introduction patterns always.

NER catches bare names ("Chan Tai Man called"); the patterns catch the common banking forms
("Mr. Chan", "my name is ...") without a model, so NER-off policies still redact the obvious ones.
"""

from __future__ import annotations

import re

from finsandbox.guards.base import Span
from finsandbox.guards.pii import ner
from finsandbox.guards.pii.recognizer import Pattern, Recognizer, recogniser

_NAME = r"(?P<name>[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,3})"
_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mdm|Madam|Dr|Prof|Sir|Dame)"
_NOT_NAMES = frozenset(
    {"I", "The", "This", "That", "Dear", "Hi", "Hello", "Bank", "Hong", "Kong", "Customer"}
)


@recogniser("PERSON")
class PersonNameRecognizer(Recognizer):
    entity_type = "PERSON"
    precedence = 110
    group = "name"
    patterns = (
        Pattern("titled_name", rf"\b{_TITLES}\.? {_NAME}", 0.5),
        Pattern("addressed_name", rf"\b(?:Dear|beneficiary|account holder|attn:?) {_NAME}", 0.45),
        Pattern("introduced_name", rf"(?i:\bmy name is|\bname:|\bi am|\bi'm|\bthis is) {_NAME}", 0.3),
    )
    context = ("name", "customer", "client", "dear", "signed", "holder", "applicant", "beneficiary", "姓名")
    ner_score = 0.6

    def analyze_ner(self, text: str) -> list[Span]:
        spans = []
        for start, end, _label in ner.entities(text):
            start, end = _trim(text, start, end)
            value = text[start:end]
            if (
                end - start < 2
                or value in _NOT_NAMES
                or not re.search(r"[a-z]", value)
                or re.search(r"[\d@]", value)
            ):
                continue
            score = self.ner_score + (self.context_boost if self.has_context(text, start, end) else 0.0)
            spans.append(Span(start, end, self.entity_type, round(min(score, 1.0), 4)))
        return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop a leading title and a trailing possessive so the span is the name itself."""
    value = text[start:end]
    if m := re.match(rf"{_TITLES}\.?\s+", value):
        start += m.end()
    if text[start:end].endswith(("'s", "’s")):
        end -= 2
    return start, end
