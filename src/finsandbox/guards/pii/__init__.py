"""PII detection for Hong Kong banking text: one recognizer per file, one `detect` for everyone.

`detect` is the single entry point shared by the PII guard and the evaluation engine's leakage
scorer, so a guard and an eval can never disagree about what counts as PII.
"""

from __future__ import annotations

from collections.abc import Iterable

from finsandbox import registry
from finsandbox.guards.base import Span
from finsandbox.guards.pii.recognizer import DEFAULT_MIN_SCORE, Recognizer, recogniser

_instances: tuple[int, dict[str, Recognizer]] = (-1, {})


def recognisers() -> dict[str, Recognizer]:
    """One instance per entity type, built-ins and plugins, in precedence order.

    Built-ins are the `@recogniser` classes of this package; plugins come through the
    `finsandbox.recognisers` entry point group. Instances are cached until the registry changes.
    """
    global _instances
    entries = registry.recognisers.entries()
    generation = registry.recognisers.generation
    if _instances[0] != generation:
        classes = sorted((e.obj for e in entries), key=lambda c: (c.precedence, c.entity_type))
        _instances = (generation, {c.entity_type: c() for c in classes})
    return _instances[1]


def entity_types() -> tuple[str, ...]:
    """Every entity type a policy or a scorer may name."""
    return tuple(recognisers())


def __getattr__(name: str) -> object:
    # The former constants, computed on use so they include plugins.
    if name == "ENTITY_TYPES":
        return entity_types()
    if name == "RECOGNIZERS":
        return recognisers()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    from finsandbox.guards.pii.person_name import PersonNameRecognizer

    known = recognisers()
    wanted = set(known) if entities is None else set(entities)
    unknown = [e for e in ([] if entities is None else list(entities)) if e not in known]
    if unknown:
        raise ValueError(f"unknown entity types: {', '.join(unknown)} (known: {', '.join(known)})")
    if not text:
        return []
    candidates: list[Span] = []
    for entity_type, rec in known.items():  # precedence order, so exact ties always break the same way
        if entity_type in wanted:
            candidates.extend(s for s in rec.analyze(text) if s.score >= min_score)
    person = known.get("PERSON")
    if ner and "PERSON" in wanted and isinstance(person, PersonNameRecognizer):
        # A rule's name span ("TSANG Mei Ling") beats the model's piece of it ("Mei Ling").
        rules = [s for s in candidates if s.entity_type == "PERSON"]
        candidates.extend(
            s
            for s in person.analyze_ner(text, [c for c in candidates if c.score >= min_score])
            if s.score >= min_score and not any(r.start <= s.start and s.end <= r.end for r in rules)
        )
    return resolve_overlaps(candidates)


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (-s.score, -(s.end - s.start), s.start)):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


__all__ = [
    "Recognizer",
    "Span",
    "detect",
    "entity_types",
    "recogniser",
    "recognisers",
    "resolve_overlaps",
]
