"""Groundedness: each claim and every figure in the answer is supported by the retrieved context,
and every cited source is one that was actually retrieved.

Deterministic and lexical: a claim is supported when enough of its content words occur in one
context document. It cannot judge paraphrase; pair it with llm_judge where that matters.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from finsandbox.evals.model import Case
from finsandbox.evals.scorers._text import Quantity, content_tokens, find_quantities, sentences
from finsandbox.evals.scorers.base import Evidence, Score, Scorer, ScorerSettings, scorer

_DEFAULT_IGNORE = [
    r"\b(I am|I'm|this is)\b.*\b(AI|virtual|digital|automated)\b",
    r"\b(AI|virtual|digital|automated) assistant\b",
    r"^(hi|hello|dear|thank you|thanks)\b",
    r"\bnot (financial|investment) advice\b",
]


class GroundednessSettings(ScorerSettings):
    min_overlap: float = Field(default=0.6, ge=0, le=1)
    min_claim_tokens: int = Field(default=3, ge=1)
    check_numbers: bool = True
    check_citations: bool = True
    citation_pattern: str = r"\[([^\[\]\n]{1,80})\]"
    # Figures the customer gave in the question may be repeated back.
    allow_input_numbers: bool = True
    ignore: list[str] = Field(default_factory=lambda: list(_DEFAULT_IGNORE))

    @field_validator("citation_pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        if compiled.groups != 1:
            raise ValueError("must have exactly one group capturing the cited id(s)")
        return value

    @field_validator("ignore")
    @classmethod
    def _valid(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return value


def contexts_for(case: Case, evidence: Evidence) -> list[dict[str, str]]:
    """What the target saw: the runner's retrieved documents, else the case's own context."""
    if evidence.retrieved:
        return [
            {"id": str(d.get("id", i)), "text": str(d.get("text", ""))}
            for i, d in enumerate(evidence.retrieved)
        ]
    return [{"id": d.id, "text": d.text} for d in case.context]


def _same(a: Quantity, b: Quantity) -> bool:
    if (a.kind == "date") != (b.kind == "date"):
        return False
    return abs(a.value - b.value) <= 1e-9 * max(1.0, abs(a.value))


@scorer("groundedness")
class Groundedness(Scorer):
    """Hallucinated figures and invented citations are the costly failures in finance answers."""

    Settings = GroundednessSettings
    default_threshold = 0.8

    def score(self, case: Case, output: str, evidence: Evidence) -> Score:
        s: GroundednessSettings = self.settings  # type: ignore[assignment]
        docs = contexts_for(case, evidence)
        cite = re.compile(s.citation_pattern)
        ignore = [re.compile(p, re.IGNORECASE) for p in s.ignore]
        doc_tokens = [set(content_tokens(d["text"])) for d in docs]
        known_numbers = [q for d in docs for q in find_quantities(d["text"])]
        if s.allow_input_numbers:
            known_numbers += find_quantities(case.user_text)
        ids = {d["id"] for d in docs}

        claims: list[dict[str, Any]] = []
        bad_numbers: list[str] = []
        bad_citations: list[str] = []
        for sentence in sentences(output):
            cited = [c.strip() for m in cite.finditer(sentence) for c in m.group(1).split(",")]
            plain = cite.sub(" ", sentence)
            if any(p.search(plain) for p in ignore):
                continue
            numbers = find_quantities(plain) if s.check_numbers else []
            words = [t for t in content_tokens(plain) if not t.isdigit()]
            if len(words) < s.min_claim_tokens and not numbers and not cited:
                continue
            overlap = (
                max((len(set(words) & dt) / len(set(words)) for dt in doc_tokens), default=0.0)
                if words
                else 1.0
            )
            problems: list[str] = []
            if overlap < s.min_overlap:
                problems.append(f"only {overlap:.0%} of its words are in any context document")
            unsupported = [q.text for q in numbers if not any(_same(q, k) for k in known_numbers)]
            if unsupported:
                problems.append(f"figures not in context: {', '.join(unsupported)}")
                bad_numbers += unsupported
            if s.check_citations:
                invalid = [c for c in cited if c not in ids and not _position(c, len(docs))]
                if invalid:
                    problems.append(f"cites sources that were not retrieved: {', '.join(invalid)}")
                    bad_citations += invalid
            claims.append({"claim": plain.strip()[:160], "overlap": round(overlap, 3), "problems": problems})

        if not claims:
            return self.result(1.0, "no factual claims to check", claims=[], contexts=len(docs))
        supported = sum(1 for c in claims if not c["problems"])
        value = supported / len(claims)
        unsupported_claims = [c for c in claims if c["problems"]]
        explanation = (
            f"{supported} of {len(claims)} claims supported by {len(docs)} context document(s)"
            if docs
            else f"no context was retrieved, so none of {len(claims)} claims is supported"
        )
        if unsupported_claims:
            explanation += f"; first unsupported: {unsupported_claims[0]['problems'][0]}"
        return Score(
            value=value,
            # An invented figure or source fails the case even when most sentences are fine.
            passed=value >= self.threshold and not bad_numbers and not bad_citations,
            explanation=explanation,
            details={
                "claims": claims,
                "unsupported_numbers": bad_numbers,
                "invalid_citations": bad_citations,
                "contexts": len(docs),
            },
        )


def _position(cited: str, n_docs: int) -> bool:
    """Numeric citations ("[2]") may refer to the retrieved documents by 1-based position."""
    return cited.isdigit() and 1 <= int(cited) <= n_docs
