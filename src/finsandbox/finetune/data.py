"""Training rows from a workspace dataset, pseudonymised by the workspace's guard policy.

A row is (system, prompt, completion). Every text goes through the input PII guards of the
workspace's policy before training sees it: values become typed placeholders (`<HKID_1>`), one
numbering per row so a prompt and its completion name the same customer alike; an entity the
policy would block is replaced by a placeholder too, since a training set must never hold it.
A policy without an input PII guard still gets the shipped PII guard's defaults: the training set
never holds raw HKIDs, phone numbers or account numbers, whatever the policy forgot.
Only counts by entity type are reported, never values.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from finsandbox.errors import InvalidRequest
from finsandbox.guards import (
    Action,
    ConversationState,
    GuardContext,
    GuardPolicy,
    canary_instruction,
    get_guard,
)

PROMPT_COLUMNS = ("prompt", "input")
COMPLETION_COLUMNS = ("completion", "output")


@dataclass(frozen=True)
class TrainingRow:
    system: str | None
    prompt: str
    completion: str

    def as_dict(self) -> dict[str, Any]:
        return {"system": self.system, "prompt": self.prompt, "completion": self.completion}


@dataclass
class PreparedSet:
    """The pseudonymised rows and what was done to them (counts only)."""

    rows: list[TrainingRow]
    entities: Counter[str] = field(default_factory=Counter)
    policy: str = "default"
    policy_digest: str = ""
    guard_source: str = "policy"  # policy | shipped defaults

    @property
    def digest(self) -> str:
        """SHA-256 of the pseudonymised rows as trained on (canonical JSON lines)."""
        h = hashlib.sha256()
        for row in self.rows:
            h.update(json.dumps(row.as_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
        return h.hexdigest()

    def provenance(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "policy_digest": self.policy_digest,
            "pii_guards": self.guard_source,
            "placeholders": dict(sorted(self.entities.items())),
            "training_set_sha256": self.digest,
        }


def _column(row: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = row.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def rows_from_dataset(rows: list[dict[str, Any]], columns: list[str]) -> list[TrainingRow]:
    """(system, prompt, completion) from dataset rows with prompt/completion (or input/output) columns."""
    if not any(c in columns for c in PROMPT_COLUMNS) or not any(c in columns for c in COMPLETION_COLUMNS):
        raise InvalidRequest(
            "a fine-tuning dataset needs a 'prompt' (or 'input') and a 'completion' (or 'output') column; "
            f"this one has: {', '.join(columns) or 'none'}",
            param="dataset",
        )
    out: list[TrainingRow] = []
    for n, row in enumerate(rows, start=1):
        prompt, completion = _column(row, PROMPT_COLUMNS), _column(row, COMPLETION_COLUMNS)
        if prompt is None or completion is None:
            raise InvalidRequest(
                f"dataset row {n} has an empty prompt or completion; every row needs both as text",
                param="dataset",
            )
        system = row.get("system")
        out.append(
            TrainingRow(system if isinstance(system, str) and system.strip() else None, prompt, completion)
        )
    if not out:
        raise InvalidRequest("the dataset has no rows to train on", param="dataset")
    return out


def _pii_guards(policy: GuardPolicy) -> tuple[list[Any], str]:
    cls = get_guard("pii")
    guards = [cls(spec.parsed_settings) for spec in policy.input if spec.enabled and spec.guard == "pii"]
    if guards:
        return guards, "policy"
    return [cls(None)], "shipped defaults"


def pseudonymise(rows: list[TrainingRow], policy: GuardPolicy, policy_text: str | None) -> PreparedSet:
    """Each row with its personal data replaced as the workspace's input PII guards say."""
    guards, source = _pii_guards(policy)
    entities: Counter[str] = Counter()
    out: list[TrainingRow] = []
    for row in rows:
        context = GuardContext(direction="input", conversation=ConversationState())

        def clean(text: str | None, context: GuardContext = context) -> str | None:
            if text is None:
                return None
            for guard in guards:
                decision = guard.check(text, context)
                if decision.action in (Action.REDACT, Action.BLOCK) and decision.spans:
                    acting = [s for s in decision.spans if guard.action_for(s.entity_type) != "allow"]
                    entities.update(s.entity_type for s in acting)
                    text = (
                        decision.text
                        if decision.action is Action.REDACT
                        else _placeholders(text, acting, context)
                    )
            return text

        out.append(TrainingRow(clean(row.system), clean(row.prompt) or "", clean(row.completion) or ""))
    digest = hashlib.sha256((policy_text or "").encode("utf-8")).hexdigest() if policy_text else "default"
    return PreparedSet(out, entities, policy.name or "default", digest, source)


def _placeholders(text: str, spans: list[Any], context: GuardContext) -> str:
    """A blocked row's values as placeholders: the policy forbids them, so they never train."""
    parts, cursor = [], 0
    for span in sorted(spans, key=lambda s: s.start):
        if span.start < cursor:
            continue
        parts.append(text[cursor : span.start])
        parts.append(context.conversation.placeholder(span.entity_type, text[span.start : span.end]))
        cursor = span.end
    parts.append(text[cursor:])
    return "".join(parts)


def as_served(prepared: PreparedSet, seed: int) -> PreparedSet:
    """The rows with the line the gateway appends to every system prompt (an endpoint's canary
    instruction, here with seeded stand-in canaries), so the model is trained on prompts shaped as
    the gateway will send them and learns to look past the line."""
    rng = random.Random(seed)
    rows = []
    for row in prepared.rows:
        line = canary_instruction(f"fsb-canary-{rng.getrandbits(64):016x}")
        system = f"{row.system}\n{line}" if row.system else line
        rows.append(TrainingRow(system, row.prompt, row.completion))
    return PreparedSet(
        rows, prepared.entities, prepared.policy, prepared.policy_digest, prepared.guard_source
    )


__all__ = ["PreparedSet", "TrainingRow", "as_served", "pseudonymise", "rows_from_dataset"]
