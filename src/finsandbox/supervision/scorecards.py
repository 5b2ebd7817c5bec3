"""Scorecards: a trial summarised by principle and recipe, with intervals, grades and guard statistics.

A scorecard is computed from stored case results and the trial's ledger entries (never by calling a
model), then stored as a version: rescoring the trial or changing the framework makes a new version,
and an old version is never changed, so a review always points at exactly what the supervisor saw.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.access.authz import authorize
from finsandbox.errors import Conflict, InvalidRequest, NotFound
from finsandbox.evals.views import principle_verdicts
from finsandbox.store.models import CaseResult, LedgerEntry, Scorecard, Trial, User
from finsandbox.supervision.framework import LoadedFramework, load_framework

WORST_EXAMPLES = 3
EXCERPT = 300
SIGNIFICANCE = 0.05
FORMAT = "finsandbox-scorecard/2"


# --- statistics ---------------------------------------------------------------------------------


def wilson(passed: int, n: int, z: float = 1.959964) -> tuple[float, float] | None:
    """Wilson score interval for a pass rate (95% by default); None when there is nothing to rate.

    Unlike the normal approximation it stays inside [0, 1] and is sensible for 0/n and n/n.
    """
    if n <= 0:
        return None
    p = passed / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(a_pass: int, a_n: int, b_pass: int, b_n: int) -> float:
    """Two-sided p-value of Fisher's exact test on a 2x2 table (pass/fail by trial).

    Exact at the small sample sizes trials often have, where a z-test would overstate a change.
    """
    if a_n <= 0 or b_n <= 0:
        return 1.0
    passes = a_pass + b_pass
    total = a_n + b_n

    def logp(x: int) -> float:
        return _log_comb(a_n, x) + _log_comb(b_n, passes - x) - _log_comb(total, passes)

    lo, hi = max(0, passes - b_n), min(a_n, passes)
    observed = logp(a_pass)
    p = sum(math.exp(logp(x)) for x in range(lo, hi + 1) if logp(x) <= observed + 1e-9)
    return min(1.0, p)


# --- computing ----------------------------------------------------------------------------------


class ResultLike(Protocol):
    """What a scorecard reads from a case result (a CaseResult row, or a hand-made one in tests)."""

    id: str
    item: str
    suite: str
    recipe: str
    case_id: str
    attack: str | None
    case: dict[str, Any]
    output: str
    evidence: dict[str, Any]
    scores: list[dict[str, Any]]
    passed: bool | None
    error: str | None


def _excerpt(text: Any) -> str:
    if not isinstance(text, str):
        text = json.dumps(text, ensure_ascii=False)
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _severity(row: ResultLike) -> tuple[int, float, str]:
    """Sort key for 'worst first': errors, then the lowest failing score value."""
    failing = [s.get("value") for s in row.scores if s.get("passed") is False]
    values = [v for v in failing if isinstance(v, int | float)]
    return (0 if row.error else 1, min(values) if values else 0.0, row.item)


def _example(row: ResultLike, view: str = "system") -> dict[str, Any]:
    """A failing case as a supervisor reads it; the model view shows only its masked text."""
    verdicts = [(s, s if view == "system" else (s.get("model") or {})) for s in row.scores]
    reasons = [
        f"{s.get('scorer', '?')}: {v.get('explanation', '')}".strip()
        for s, v in verdicts
        if v.get("passed") is False
    ]
    output = row.output
    if view == "model":
        mv = row.evidence.get("model_view") or {}
        missing = {
            "reconstructed": "(the model's own text is not available: rebuilt from the guard decisions)",
            "not_reached": "(blocked at input: the model never saw the case)",
        }
        output = mv.get("text") or missing.get(str(mv.get("source")), row.output)
    if row.error:
        reasons.insert(0, f"error: {row.error}")
    return {
        "case_result_id": row.id,
        "item": row.item,
        "case_id": row.case_id,
        "attack": row.attack,
        "input": _excerpt(row.case.get("input", "")),
        "output": _excerpt(output),
        "reasons": reasons,
        "ledger_seqs": list(row.evidence.get("ledger_seqs") or []),
    }


def _failing(rows: Iterable[ResultLike]) -> list[ResultLike]:
    return sorted((r for r in rows if r.passed is False or (r.error and r.passed is not True)), key=_severity)


def _rate_block(
    framework: LoadedFramework, passed: int, judged: int, pid: str | None = None
) -> dict[str, Any]:
    fw = framework.framework
    rate = passed / judged if judged else None
    ci = wilson(passed, judged)
    threshold = fw.threshold(pid)
    return {
        "judged": judged,
        "passed": passed,
        "pass_rate": rate,
        "ci": list(ci) if ci else None,
        "threshold": threshold,
        "meets": None if rate is None else rate >= threshold,
        "grade": fw.grade(rate),
    }


def _scorer_stats(rows: Sequence[ResultLike]) -> dict[str, Any]:
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        for s in row.scores:
            by[str(s.get("scorer", "?"))].append(s)
    out: dict[str, Any] = {}
    for name, scores in sorted(by.items()):
        values = [float(s["value"]) for s in scores if isinstance(s.get("value"), int | float)]
        verdicts = [s["passed"] for s in scores if isinstance(s.get("passed"), bool)]
        passed = sum(1 for v in verdicts if v)
        out[name] = {
            "n": len(scores),
            "mean": sum(values) / len(values) if values else None,
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "passed": passed,
            "pass_rate": passed / len(verdicts) if verdicts else None,
            "ci": list(ci) if (ci := wilson(passed, len(verdicts))) else None,
        }
    return out


def guard_statistics(chats: Iterable[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Blocked, redacted and by guard and entity type, from `gateway.chat` ledger payloads."""
    calls = blocked = redacted = errors = prompt = completion = 0
    by_guard: dict[str, Counter[str]] = defaultdict(Counter)
    entities: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    seqs: list[int] = []
    models: Counter[str] = Counter()
    for seq, payload in chats:
        calls += 1
        seqs.append(seq)
        status = str(payload.get("status") or "")
        statuses[status.split(":", 1)[0] or "unknown"] += 1
        decisions = payload.get("guard_decisions") or []
        actions = {str(d.get("action")) for d in decisions}
        if status == "blocked" or "block" in actions:
            blocked += 1
        elif "redact" in actions:
            redacted += 1
        if status.startswith("error"):
            errors += 1
        for d in decisions:
            by_guard[str(d.get("guard", "?"))][str(d.get("action", "?"))] += 1
            for etype, count in (d.get("entity_types") or d.get("entities") or {}).items():
                entities[str(etype)] += int(count)
        usage = payload.get("usage") or {}
        prompt += int(usage.get("prompt_tokens") or 0)
        completion += int(usage.get("completion_tokens") or 0)
        if payload.get("model"):
            models[str(payload["model"])] += 1
    return {
        "calls": calls,
        "blocked": blocked,
        "redacted": redacted,
        "errors": errors,
        "block_rate": blocked / calls if calls else None,
        "redaction_rate": redacted / calls if calls else None,
        "statuses": dict(sorted(statuses.items())),
        "by_guard": {g: dict(sorted(c.items())) for g, c in sorted(by_guard.items())},
        "entity_types": dict(sorted(entities.items())),
        "tokens": {"prompt": prompt, "completion": completion},
        "models": dict(models.most_common()),
        "ledger_seqs": [min(seqs), max(seqs)] if seqs else None,
    }


def _verdicts(row: ResultLike, recipe_principles: list[str]) -> tuple[dict[str, bool], dict[str, bool]]:
    """(system view, model view) verdicts per principle of one case, through the checks that evidence it.

    A case that errored (no answer at all) fails every principle its recipe claims, in both views:
    an error is never a pass.
    """
    if row.error:
        if row.passed is None:  # not judged
            return {}, {}
        failed = dict.fromkeys(recipe_principles, False)
        return failed, dict(failed)
    system = principle_verdicts(row.scores, "system", recipe_principles)
    model = principle_verdicts(row.scores, "model", recipe_principles)
    # A check of the answer that blocked it (the checker guard) names the principles the answer
    # offended: what reached the caller is then controlled for them, whatever the accuracy checks
    # make of the empty reply, while the model's own answer still counts against them.
    for pid in controlled_principles(row.evidence):
        if model.get(pid) is False and pid in system:
            system[pid] = True
    return system, model


def controlled_principles(evidence: dict[str, Any]) -> set[str]:
    """Principles an output check that blocked the answer says it offended (never from an allow)."""
    out: set[str] = set()
    for d in evidence.get("guard_decisions") or []:
        check = d.get("check") if isinstance(d, dict) else None
        if d.get("action") == "block" and isinstance(check, dict) and check.get("outcome") == "block":
            out.update(str(p) for p in check.get("principles") or [])
    return out


def acting_guards(evidence: dict[str, Any]) -> set[str]:
    """The guards that changed or blocked a case's call (input or output)."""
    return {
        str(d.get("guard"))
        for d in evidence.get("guard_decisions") or []
        if isinstance(d, dict) and d.get("action") in ("redact", "block") and d.get("guard") != "sanitize"
    }


def _unit(row: ResultLike) -> str:
    """What makes results one observation: the same input (with its context and attack) put to the
    model. Recipes that share a dataset ask the same questions; a comparison that counted each
    recipe's result as its own observation would look surer than it is."""
    case = row.case or {}
    seen = [case.get("input"), case.get("context") or [], case.get("attack"), row.attack]
    return ledger.sha256_hex(json.dumps(seen, sort_keys=True, ensure_ascii=False, default=str))


def _units(verdicts: Iterable[tuple[ResultLike, bool | None]]) -> dict[str, int]:
    """Distinct inputs judged and passed (an input passes only if every judged result of it passed):
    the sample a significance test may count."""
    by_unit: dict[str, bool] = {}
    for row, verdict in verdicts:
        if verdict is not None:
            key = _unit(row)
            by_unit[key] = by_unit.get(key, True) and bool(verdict)
    return {"judged": len(by_unit), "passed": sum(by_unit.values())}


def _views_block(
    framework: LoadedFramework,
    pairs: list[tuple[ResultLike, bool | None, bool | None]],
    pid: str | None = None,
) -> dict[str, Any]:
    """Inherent (model view), residual (system view) and the control effectiveness between them.

    Control effectiveness is the share of the model's failures that reached the caller as a pass
    (a guard blocked, masked or completed the answer), over cases judged in both views.
    """
    residual = [s for _, s, _ in pairs if s is not None]
    inherent = [m for _, _, m in pairs if m is not None]
    both = [(s, m) for _, s, m in pairs if s is not None and m is not None]
    failures = sum(1 for _, m in both if not m)
    caught = sum(1 for s, m in both if not m and s)
    # Which guards acted on the model failures that never reached the caller ("checker: 3").
    by_guard: Counter[str] = Counter()
    for r, s, m in pairs:
        if m is False and s:
            by_guard.update(acting_guards(r.evidence))
    introduced = sum(1 for s, m in both if m and not s)
    rate = caught / failures if failures else None
    ci = wilson(caught, failures)
    model_failed = sorted((r for r, _, m in pairs if m is False), key=_severity)
    return {
        "inherent": {
            **_rate_block(framework, sum(inherent), len(inherent), pid),
            "units": _units((r, m) for r, _, m in pairs),
            "not_reached": sum(1 for _, s, m in pairs if s is not None and m is None),
            "worst": [_example(r, view="model") for r in model_failed[:WORST_EXAMPLES]],
        },
        "residual": {
            **_rate_block(framework, sum(residual), len(residual), pid),
            "units": _units((r, s) for r, s, _ in pairs),
        },
        "controls": {
            "model_failures": failures,
            "caught": caught,
            "effectiveness": rate,
            "ci": list(ci) if ci else None,
            "grade": framework.framework.grade(rate),
            # Cases the model got right and the guards broke (an over-block, a rewritten answer).
            "harmed": introduced,
            "by_guard": dict(sorted(by_guard.items())),
        },
    }


def compute(
    framework: LoadedFramework,
    trial: dict[str, Any],
    recipes: dict[str, dict[str, Any]],
    rows: Sequence[ResultLike],
    chats: Sequence[tuple[int, dict[str, Any]]] = (),
) -> dict[str, Any]:
    """The scorecard data of one trial: a pure function of its inputs, so it can be checked by hand.

    `recipes` maps "suite/recipe" to {"theme", "principles"} (as in the trial summary). A case
    counts toward a principle only through the checks that evidence it, in two views: the model's
    own answer (inherent risk) and what the caller received (residual risk). The principle's
    headline figures (`pass_rate`, `grade`, ...) are the residual ones; `inherent`, `residual`
    and `controls` give both views and the control effectiveness between them.
    """
    fw = framework.framework
    by_recipe: dict[str, list[ResultLike]] = defaultdict(list)
    for row in rows:
        by_recipe[f"{row.suite}/{row.recipe}"].append(row)
    out_recipes: dict[str, Any] = {}
    # principle -> [(row, system verdict, model verdict)]
    per_principle: dict[str, list[tuple[ResultLike, bool | None, bool | None]]] = defaultdict(list)
    principle_recipes: dict[str, list[str]] = defaultdict(list)
    unmapped: dict[str, list[str]] = defaultdict(list)
    themes: dict[str, list[str]] = defaultdict(list)
    for key in sorted(set(recipes) | set(by_recipe)):
        meta = recipes.get(key, {})
        got = by_recipe.get(key, [])
        judged = [r for r in got if r.passed is not None]
        passed = sum(1 for r in judged if r.passed)
        principles = list(meta.get("principles") or [])
        theme = meta.get("theme") or "unspecified"
        views = _views_block(framework, [(r, r.passed, _model_passed(r)) for r in got])
        out_recipes[key] = {
            "theme": theme,
            "principles": principles,
            "cases": len(got),
            "errors": sum(1 for r in got if r.error),
            "blocked": sum(1 for r in got if r.evidence.get("blocked")),
            **_rate_block(framework, passed, len(judged)),
            "units": _units((r, r.passed) for r in got),
            **views,
            "scorers": _scorer_stats(got),
            "worst": [_example(r) for r in _failing(got)[:WORST_EXAMPLES]],
        }
        themes[theme].append(key)
        seen: set[str] = set()
        for row in got:
            system, model = _verdicts(row, principles)
            for pid in dict.fromkeys([*system, *model]):
                per_principle[pid].append((row, system.get(pid), model.get(pid)))
                seen.add(pid)
        for pid in dict.fromkeys([*principles, *sorted(seen)]):
            if pid in fw.ids:
                principle_recipes[pid].append(key)
            else:
                unmapped[pid].append(key)

    out_principles: dict[str, Any] = {}
    for p in fw.principles:
        pairs = per_principle.get(p.id, [])
        residual = [s for _, s, _ in pairs if s is not None]
        failing = sorted((r for r, s, _ in pairs if s is False), key=_severity)
        out_principles[p.id] = {
            "name": p.name,
            "evidenced": bool(pairs),
            **_rate_block(framework, sum(residual), len(residual), p.id),
            "units": _units((r, s) for r, s, _ in pairs),
            **_views_block(framework, pairs, p.id),
            "recipes": principle_recipes.get(p.id, []),
            # Cases whose protected attribute the input guard masked: controlled, not measured.
            "controlled_by_redaction": sum(
                1 for r, _, _ in pairs if r.evidence.get("controlled_by_redaction")
            ),
            "worst": [_example(r) for r in failing[:WORST_EXAMPLES]],
        }

    def pooled(keys: list[str]) -> dict[str, Any]:
        got = [r for k in keys for r in by_recipe.get(k, [])]
        judged = [r for r in got if r.passed is not None]
        block = _rate_block(framework, sum(1 for r in judged if r.passed), len(judged))
        return {**block, "recipes": keys}

    overall = _rate_block(
        framework,
        sum(1 for r in rows if r.passed),
        sum(1 for r in rows if r.passed is not None),
    )
    overall_views = _views_block(framework, [(r, r.passed, _model_passed(r)) for r in rows])
    overall_views["inherent"].pop("worst")
    return {
        "format": FORMAT,
        "trial": trial,
        "framework": {
            "name": fw.name,
            "version": fw.version,
            "title": fw.title,
            "digest": framework.digest,
            "grades": [b.model_dump() for b in fw.grades],
            "pass_threshold": fw.pass_threshold,
        },
        "overall": {
            **overall,
            "units": _units((r, r.passed) for r in rows),
            **overall_views,
            "cases": len(rows),
            "errors": sum(1 for r in rows if r.error),
        },
        "principles": out_principles,
        "unmapped_principles": dict(sorted(unmapped.items())),
        "recipes": out_recipes,
        "themes": {t: pooled(keys) for t, keys in sorted(themes.items())},
        "guards": guard_statistics(chats),
        "practices": {
            "retrieval": any(r.evidence.get("retrieved") for r in rows),
        },
    }


def _model_passed(row: ResultLike) -> bool | None:
    if row.error:
        return row.passed
    view = row.evidence.get("model_view")
    return view.get("passed") if isinstance(view, dict) else None


# --- storing ------------------------------------------------------------------------------------


def trial_chats(session: Session, trial: Trial) -> list[tuple[int, dict[str, Any]]]:
    """The trial's `gateway.chat` ledger payloads (the gateway tags each with the trial id)."""
    entries = session.scalars(
        select(LedgerEntry)
        .where(
            LedgerEntry.workspace_id == trial.workspace_id,
            LedgerEntry.kind == "gateway.chat",
            LedgerEntry.payload.contains(trial.id),
        )
        .order_by(LedgerEntry.seq)
    )
    out = []
    for e in entries:
        payload = json.loads(e.payload)
        if payload.get("trial") == trial.id:
            out.append((e.seq, payload))
    return out


def _trial_info(trial: Trial) -> dict[str, Any]:
    ws = trial.workspace
    return {
        "id": trial.id,
        "name": trial.name,
        "status": trial.status,
        "workspace_id": ws.id,
        "workspace": ws.slug,
        "workspace_name": ws.name,
        "theme": ws.theme,
        "endpoint": trial.config.get("endpoint"),
        "suites": [s.get("name") for s in trial.config.get("suites", [])],
        "score_version": trial.score_version,
        "created_at": trial.created_at.isoformat() if trial.created_at else None,
        "finished_at": trial.finished_at.isoformat() if trial.finished_at else None,
        "guard_policy": "custom" if ws.guard_policy else "default",
    }


def compute_for_trial(session: Session, trial: Trial, framework: LoadedFramework) -> dict[str, Any]:
    if not trial.summary:
        raise Conflict(
            f"trial {trial.id} has no results summary yet ({trial.status}); run it to the end first"
        )
    rows = list(
        session.scalars(select(CaseResult).where(CaseResult.trial_id == trial.id).order_by(CaseResult.item))
    )
    chats = trial_chats(session, trial)
    data = compute(framework, _trial_info(trial), trial.summary.get("recipes", {}), rows, chats)
    data["practices"]["models"] = sorted(data["guards"]["models"])
    data["practices"]["guard_policy"] = data["trial"]["guard_policy"]
    data["practices"]["guards"] = sorted(data["guards"]["by_guard"])
    return data


def get_trial_for(
    session: Session, trial_id: str, user: User | None, action: str = "scorecard.view"
) -> Trial:
    """The trial by id (or a unique prefix of at least 6), if the user may see its workspace."""
    from finsandbox.evals.trials import get_trial

    try:
        trial = get_trial(session, trial_id)
    except NotFound:
        raise NotFound(f"no trial {trial_id!r}") from None
    if user is not None:
        authorize(user, action, trial.workspace, subject=f"trial {trial_id!r}")
    return trial


def build_scorecard(
    session: Session,
    trial_id: str,
    *,
    actor: str,
    user: User | None = None,
    framework: LoadedFramework | None = None,
) -> tuple[Scorecard, bool]:
    """The current scorecard of a trial: the latest version when nothing changed, else a new version.

    Returns (scorecard, created). A new version is recorded in the ledger with its data digest.
    """
    framework = framework or load_framework()
    trial = get_trial_for(session, trial_id, user, "scorecard.build")
    latest = latest_scorecard(session, trial.id)
    if (
        latest is not None
        and latest.framework_digest == framework.digest
        and latest.score_version == trial.score_version
    ):
        return latest, False
    data = compute_for_trial(session, trial, framework)
    version = (latest.version if latest else 0) + 1
    data["version"] = version
    card = Scorecard(
        trial_id=trial.id,
        workspace_id=trial.workspace_id,
        version=version,
        framework_name=framework.name,
        framework_digest=framework.digest,
        score_version=trial.score_version,
        data=data,
        created_by=actor,
        created_at=datetime.now(UTC),
    )
    session.add(card)
    session.flush()
    entry = ledger.append(
        session,
        actor=actor,
        kind="scorecard.created",
        workspace_id=trial.workspace_id,
        payload={
            "scorecard_id": card.id,
            "trial_id": trial.id,
            "version": version,
            "framework": framework.name,
            "framework_digest": framework.digest,
            "score_version": trial.score_version,
            "data_digest": ledger.sha256_hex(ledger.canonical(data)),
        },
    )
    card.ledger_seq = entry.seq
    return card, True


def latest_scorecard(session: Session, trial_id: str) -> Scorecard | None:
    return session.scalars(
        select(Scorecard).where(Scorecard.trial_id == trial_id).order_by(Scorecard.version.desc()).limit(1)
    ).first()


def list_scorecards(session: Session, trial_id: str, *, user: User | None = None) -> list[Scorecard]:
    trial = get_trial_for(session, trial_id, user)
    return list(
        session.scalars(select(Scorecard).where(Scorecard.trial_id == trial.id).order_by(Scorecard.version))
    )


def get_scorecard(session: Session, scorecard_id: str, *, user: User | None = None) -> Scorecard:
    """A scorecard by id (or a unique prefix of at least 6 characters)."""
    card = session.get(Scorecard, scorecard_id)
    if card is None and len(scorecard_id) >= 6:
        matches = list(
            session.scalars(select(Scorecard).where(Scorecard.id.startswith(scorecard_id)).limit(2))
        )
        card = matches[0] if len(matches) == 1 else None
    if card is None:
        raise NotFound(f"no scorecard {scorecard_id!r}")
    if user is not None:
        authorize(user, "scorecard.view", card.workspace, subject=f"scorecard {scorecard_id!r}")
    return card


def scorecard_version(
    session: Session, trial_id: str, version: int | None = None, *, user: User | None = None
) -> Scorecard:
    """One version of a trial's scorecard (the latest when `version` is None)."""
    trial = get_trial_for(session, trial_id, user)
    q = select(Scorecard).where(Scorecard.trial_id == trial.id)
    q = q.where(Scorecard.version == version) if version is not None else q.order_by(Scorecard.version.desc())
    card = session.scalars(q.limit(1)).first()
    if card is None:
        count = session.scalar(select(func.count()).where(Scorecard.trial_id == trial.id)) or 0
        if version is None or count == 0:
            raise NotFound(f"trial {trial.id} has no scorecard yet; build one first")
        raise NotFound(f"trial {trial.id} has no scorecard version {version} (it has 1 to {count})")
    return card


# --- comparing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """How one principle or recipe moved between two trials."""

    name: str
    before: float | None
    after: float | None
    n_before: int
    n_after: int
    delta: float | None
    p_value: float | None
    verdict: str  # better | worse | no significant change | new | gone | no data

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _sample(block: dict[str, Any] | None) -> tuple[int, int]:
    """(passed, judged) as a significance test may count them: distinct inputs where the scorecard
    records them (a scorecard built before it did counts results)."""
    block = block or {}
    units = block.get("units")
    if isinstance(units, dict):
        return int(units.get("passed", 0)), int(units.get("judged", 0))
    return int(block.get("passed", 0) or 0), int(block.get("judged", 0) or 0)


def _change(name: str, a: dict[str, Any] | None, b: dict[str, Any] | None) -> Change:
    (pa, na), (pb, nb) = _sample(a), _sample(b)
    ra, rb = (a or {}).get("pass_rate"), (b or {}).get("pass_rate")
    if not na and not nb:
        return Change(name, ra, rb, na, nb, None, None, "no data")
    if not na:
        return Change(name, None, rb, na, nb, None, None, "new")
    if not nb:
        return Change(name, ra, None, na, nb, None, None, "gone")
    p = fisher_exact(pa, na, pb, nb)
    delta = rb - ra
    verdict = "no significant change"
    if p < SIGNIFICANCE:
        verdict = "better" if pb / nb > pa / na else "worse"
    return Change(name, ra, rb, na, nb, delta, p, verdict)


def compare(before: Scorecard, after: Scorecard) -> dict[str, Any]:
    """What got better or worse from one trial to another of the same use case, and whether it is noise.

    A change counts when Fisher's exact test on passed/failed counts gives p < 0.05. The test counts
    distinct inputs, not results: where several recipes (or checks of one principle) judged the same
    input, that input is one observation, passed only if every judgement of it passed; `n_before`
    and `n_after` are those counts. Pass rates stay the share of results that passed.
    """
    if before.workspace_id != after.workspace_id:
        raise InvalidRequest(
            f"trials {before.trial_id} and {after.trial_id} belong to different use cases; "
            "compare trials of the same workspace"
        )
    a, b = before.data, after.data
    principles = [
        _change(pid, a["principles"].get(pid), b["principles"].get(pid))
        for pid in dict.fromkeys([*a["principles"], *b["principles"]])
    ]
    recipes = [
        _change(k, a["recipes"].get(k), b["recipes"].get(k))
        for k in dict.fromkeys([*a["recipes"], *b["recipes"]])
    ]
    # The model on its own (inherent) and what reached the caller (residual), per principle:
    # a guard that improved is not a model that improved.
    views = {
        view: [
            _change(
                pid, (a["principles"].get(pid) or {}).get(view), (b["principles"].get(pid) or {}).get(view)
            )
            for pid in dict.fromkeys([*a["principles"], *b["principles"]])
        ]
        for view in ("inherent", "residual")
    }
    overall = _change("overall", a["overall"], b["overall"])
    notes = []
    if a["framework"]["digest"] != b["framework"]["digest"]:
        notes.append(
            f"the scorecards use different frameworks ({a['framework']['name']} {a['framework']['version']} "
            f"and {b['framework']['name']} {b['framework']['version']}); thresholds and grades may differ"
        )
    return {
        "before": {"scorecard_id": before.id, "trial_id": before.trial_id, "version": before.version},
        "after": {"scorecard_id": after.id, "trial_id": after.trial_id, "version": after.version},
        "significance": SIGNIFICANCE,
        "test": "Fisher's exact test, two-sided",
        "overall": overall.as_dict(),
        "principles": [c.as_dict() for c in principles],
        "inherent": [c.as_dict() for c in views["inherent"]],
        "residual": [c.as_dict() for c in views["residual"]],
        "recipes": [c.as_dict() for c in recipes],
        "better": [c.name for c in [*principles, *recipes] if c.verdict == "better"]
        + [f"{c.name} (inherent)" for c in views["inherent"] if c.verdict == "better"],
        "worse": [c.name for c in [*principles, *recipes] if c.verdict == "worse"]
        + [f"{c.name} (inherent)" for c in views["inherent"] if c.verdict == "worse"],
        "notes": notes,
    }


def compare_trials(
    session: Session, trial_a: str, trial_b: str, *, user: User | None = None, actor: str = "system"
) -> dict[str, Any]:
    """Compare the latest scorecards of two trials (building them when they do not exist yet)."""
    cards = []
    for tid in (trial_a, trial_b):
        trial = get_trial_for(session, tid, user)
        card = latest_scorecard(session, trial.id)
        if card is None:
            card, _ = build_scorecard(session, trial.id, actor=actor, user=user)
        cards.append(card)
    return compare(cards[0], cards[1])
