"""How far the `checker` guard agrees with people and with the deterministic guards.

Like the LLM judge's agreement (`scorers/llm_judge.py`), with the same measures (percent agreement
and Cohen's kappa, `evals.metrics`): the checker is run, through the gateway's model caller and so
metered and recorded like any check, over a shipped set of answers that a person labelled pass or
fail per rubric item (`checker_labels.yaml`, with its provenance). A checker that gives no verdict
blocks in the gateway, so here it counts as a fail on every item (and is counted as an error).

The labelled answers are sent as they are written, personal data included, because the point is to
measure whether the checker can see it; every value in them is synthetic. In the gateway the
checker only ever sees text the output PII guard has already masked.

Against the deterministic guards, each guard's finding on the same answers is set beside the
checker's verdict on the item it overlaps: `pii` (any finding) with `personal_data`,
`investment_advice` (any action) with `scope`, and `disclosure` (the answer denies being an AI)
with `tone`. The guards' own agreement with the human labels is reported too, so one can see what
the checker adds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field

from finsandbox.access.keys import create_key, revoke_key
from finsandbox.configfile import read_text
from finsandbox.errors import ConfigError
from finsandbox.evals.metrics import cohen_kappa, percent_agreement
from finsandbox.gateway.checking import GatewayModelCaller
from finsandbox.gateway.endpoints import get_endpoint
from finsandbox.gateway.service import quotas
from finsandbox.guards import ConversationState, GuardContext, ModelCaller, get_guard
from finsandbox.guards.checker import CheckerGuard, prompt_digest
from finsandbox.guards.disclosure import find_disclosure
from finsandbox.programme import get_workspace
from finsandbox.store.db import session_scope
from finsandbox.store.models import ApiKey

LABELS_FILE = "checker_labels.yaml"
# Deterministic guard -> the rubric item its finding overlaps.
GUARD_ITEMS = {"pii": "personal_data", "investment_advice": "scope", "disclosure": "tone"}


class LabelledAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    context: str
    question: str
    answer: str
    labels: dict[str, bool]
    fooling: bool = False
    note: str | None = None


class LabelledSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    rubric_version: str
    provenance: str = Field(min_length=1)
    answers: list[LabelledAnswer] = Field(min_length=1)


def load_labels(path: Path | str | None = None) -> LabelledSet:
    """The shipped labelled set, or another file in the same shape; ConfigError names what is wrong."""
    import yaml

    if path is None:
        text = resources.files("finsandbox.evals").joinpath(LABELS_FILE).read_text(encoding="utf-8")
        source = f"finsandbox/evals/{LABELS_FILE}"
    else:
        text, source = read_text(Path(path), str(path), "labels file"), str(path)
    try:
        data = yaml.safe_load(text)
        data["answers"] = [
            {**a, "labels": {k: str(v).lower() == "pass" for k, v in (a.get("labels") or {}).items()}}
            for a in data.get("answers") or []
        ]
        return LabelledSet.model_validate(data)
    except Exception as exc:  # YAML or shape: one line naming the file
        raise ConfigError(f"{source}: not a labelled set of answers ({type(exc).__name__}: {exc})") from None


def _measures(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    if not pairs:
        return {"n": 0, "accuracy": None, "cohen_kappa": None}
    a, b = zip(*pairs, strict=True)
    return {"n": len(pairs), "accuracy": percent_agreement(a, b), "cohen_kappa": cohen_kappa(a, b)}


def guard_verdicts(answer: str) -> dict[str, bool]:
    """Pass (True) per overlapped rubric item, as the deterministic guards see the answer."""
    context = GuardContext(direction="output", conversation=ConversationState(), customer_facing=True)
    pii = get_guard("pii")({"ner": True, "default_action": "mask"}).check(answer, context)
    advice = get_guard("investment_advice")().check(answer, context)
    denied = find_disclosure(answer)[1].startswith("denies")
    return {
        "pii": pii.action == "allow",
        "investment_advice": advice.action == "allow",
        "disclosure": not denied,
    }


@dataclass
class Run:
    """One answer: the human labels, the checker's verdicts (None: no verdict) and the guards'."""

    item: LabelledAnswer
    checker: dict[str, bool] | None
    error: str | None
    guards: dict[str, bool]
    identity: dict[str, Any] | None = None


def summarise(runs: list[Run], rubric: list[str], checker: dict[str, Any]) -> dict[str, Any]:
    """Agreement per rubric item and pooled, with people and with the deterministic guards."""

    def verdict(run: Run, item: str) -> bool:
        return run.checker[item] if run.checker is not None else False  # no verdict: blocked

    items = [i for i in rubric if all(i in r.item.labels for r in runs)]
    per_item = {i: _measures([(r.item.labels[i], verdict(r, i)) for r in runs]) for i in items}
    pooled = _measures([(r.item.labels[i], verdict(r, i)) for r in runs for i in items])
    fooling = [r for r in runs if r.item.fooling]
    vs_guards = {}
    for guard, item in GUARD_ITEMS.items():
        if item not in rubric:
            continue
        vs_guards[guard] = {
            "item": item,
            "checker_vs_guard": _measures([(r.guards[guard], verdict(r, item)) for r in runs]),
            "guard_vs_human": _measures([(r.item.labels[item], r.guards[guard]) for r in runs])
            if item in items
            else None,
        }
    return {
        "checker": checker,
        "answers": len(runs),
        "errors": sum(1 for r in runs if r.checker is None),
        "human": {"pooled": pooled, "items": per_item},
        "fooling": {
            "answers": len(fooling),
            # A fooling answer fails at least one item: the checker is fooled when it passes them all.
            "fooled": sum(1 for r in fooling if r.checker is not None and all(r.checker.values())),
        },
        "guards": vs_guards,
        "disagreements": [
            {"id": r.item.id, "items": [i for i in items if r.item.labels[i] != verdict(r, i)]}
            for r in runs
            if any(r.item.labels[i] != verdict(r, i) for i in items)
        ],
    }


async def _check_all(guard: CheckerGuard, labelled: LabelledSet, caller: ModelCaller) -> list[Run]:
    runs = []
    for item in labelled.answers:
        context = GuardContext(
            direction="output",
            conversation=ConversationState(),
            request=({"role": "system", "content": item.context}, {"role": "user", "content": item.question}),
            model_caller=caller,
        )
        decision = await anyio.to_thread.run_sync(guard.check, item.answer, context)
        details = dict(decision.details or {})
        verdicts = details.get("verdicts")
        checker = {k: v == "pass" for k, v in verdicts.items()} if isinstance(verdicts, dict) else None
        guards = await anyio.to_thread.run_sync(guard_verdicts, item.answer)
        runs.append(Run(item, checker, details.get("error"), guards, details.get("checker")))
    return runs


def measure_agreement(
    workspace: str,
    endpoint: str,
    *,
    actor: str,
    labels: Path | str | None = None,
    budget_ms: int = 30_000,
    prompt_version: str = "1",
) -> dict[str, Any]:
    """Run the checker (`endpoint` of `workspace`) over the labelled set and measure its agreement.

    The checker's calls go through the gateway's model caller under a key minted for this run (and
    revoked after it), so each is metered and in the ledger like a check made in the gateway.
    """
    labelled = load_labels(labels)
    guard = CheckerGuard({"endpoint": endpoint, "budget_ms": budget_ms, "prompt_version": prompt_version})
    with session_scope(write=True) as session:
        ws = get_workspace(session, workspace)
        get_endpoint(session, ws.id, endpoint)  # an unknown endpoint is refused before any call
        new = create_key(session, ws, name=f"checker agreement ({endpoint})", actor=actor)
        key_id, key_prefix, workspace_id = new.key.id, new.key.prefix, ws.id

    async def run() -> list[Run]:
        caller = GatewayModelCaller(
            workspace_id=workspace_id,
            key_id=key_id,
            key_prefix=key_prefix,
            checked_endpoint="(labelled set)",
            loop=asyncio.get_running_loop(),
            quotas=quotas(),
        )
        return await _check_all(guard, labelled, caller)

    try:
        runs = asyncio.run(run())
    finally:
        with session_scope(write=True) as session:
            revoke_key(session, session.get(ApiKey, key_id), actor=actor)
    ids = [item.id for item in guard.settings.rubric]
    first = next((r for r in runs if r.identity and "model" in r.identity), None)
    identity: dict[str, Any] = {
        **(first.identity if first and first.identity else {"endpoint": endpoint}),
        "prompt_version": prompt_version,
        "prompt_digest": prompt_digest(guard.settings),
        "rubric_version": guard.settings.rubric_version,
    }
    errors = sorted({r.error for r in runs if r.error})
    if errors:
        identity["errors"] = errors[:5]
    out = summarise(runs, ids, identity)
    out["labels"] = {"version": labelled.version, "rubric_version": labelled.rubric_version}
    return out
