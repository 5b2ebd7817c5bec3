"""PII detection for Hong Kong banking text: one recognizer per file, one `detect` for everyone.

`detect` is the single entry point shared by the PII guard and the evaluation engine's leakage
scorer, so a guard and an eval can never disagree about what counts as PII.
"""

from __future__ import annotations

from collections.abc import Iterable

from finsandbox.guards.base import Span
from finsandbox.guards.pii.date_of_birth import DateOfBirthRecognizer
from finsandbox.guards.pii.email import EmailRecognizer
from finsandbox.guards.pii.hk_bank_account import HKBankAccountRecognizer
from finsandbox.guards.pii.hk_phone import HKPhoneRecognizer
from finsandbox.guards.pii.hkid import HKIDRecognizer
from finsandbox.guards.pii.iban import IBANRecognizer
from finsandbox.guards.pii.mainland_id import MainlandIDRecognizer
from finsandbox.guards.pii.passport import PassportRecognizer
from finsandbox.guards.pii.payment_card import PaymentCardRecognizer
from finsandbox.guards.pii.person_name import PersonNameRecognizer
from finsandbox.guards.pii.recognizer import DEFAULT_MIN_SCORE, Recognizer
from finsandbox.guards.pii.swift import SwiftRecognizer

RECOGNIZERS: dict[str, Recognizer] = {
    r.entity_type: r
    for r in (
        HKIDRecognizer(),
        MainlandIDRecognizer(),
        PaymentCardRecognizer(),
        IBANRecognizer(),
        HKBankAccountRecognizer(),
        HKPhoneRecognizer(),
        SwiftRecognizer(),
        EmailRecognizer(),
        PassportRecognizer(),
        DateOfBirthRecognizer(),
        PersonNameRecognizer(),
    )
}
ENTITY_TYPES: tuple[str, ...] = tuple(RECOGNIZERS)
_PERSON = RECOGNIZERS["PERSON"]
assert isinstance(_PERSON, PersonNameRecognizer)


def detect(
    text: str,
    *,
    entities: Iterable[str] | None = None,
    ner: bool = False,
    min_score: float = DEFAULT_MIN_SCORE,
) -> list[Span]:
    """Non-overlapping PII spans in `text`, in order. `ner=True` adds spaCy person names (slower).

    Where candidates overlap, the higher score wins, then the longer span: a Luhn-valid card beats
    the phone-shaped digits inside it.
    """
    wanted = ENTITY_TYPES if entities is None else tuple(entities)
    unknown = [e for e in wanted if e not in RECOGNIZERS]
    if unknown:
        raise ValueError(f"unknown entity types: {', '.join(unknown)} (known: {', '.join(ENTITY_TYPES)})")
    if not text:
        return []
    candidates: list[Span] = []
    for entity_type in wanted:
        candidates.extend(s for s in RECOGNIZERS[entity_type].analyze(text) if s.score >= min_score)
    if ner and "PERSON" in wanted:
        candidates.extend(s for s in _PERSON.analyze_ner(text) if s.score >= min_score)
    return resolve_overlaps(candidates)


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (-s.score, -(s.end - s.start), s.start)):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


__all__ = ["ENTITY_TYPES", "RECOGNIZERS", "Recognizer", "Span", "detect", "resolve_overlaps"]
