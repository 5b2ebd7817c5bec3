"""`finsandbox scorecard`: build, show, list and compare trial scorecards by principle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from finsandbox.cli._common import (
    AsUser,
    JsonFlag,
    actor_of,
    console,
    group,
    interval,
    open_session,
    pct,
    print_json,
    table,
    user_of,
)

app = group("Trial scorecards by principle: build, show, compare.")


def _print_scorecard(card: Any) -> None:
    d = card.data
    o = d["overall"]
    console.print(
        f"scorecard [bold]{card.id}[/] v{card.version} of trial {card.trial_id} ({d['trial']['name']}), "
        f"framework {d['framework']['name']} {d['framework']['version']}, "
        f"score version {card.score_version}: "
        f"overall {pct(o['pass_rate'])} ({interval(o['ci'])}), grade {o['grade'] or '-'}"
    )
    table(
        "by principle: inherent risk (the model alone) and residual risk (after the guards)",
        [
            "principle",
            "cases",
            "inherent",
            "grade",
            "residual",
            "95% interval",
            "grade",
            "meets",
            "guards caught",
        ],
        [
            [
                pid,
                p["judged"],
                _rate(p.get("inherent")),
                (p.get("inherent") or {}).get("grade") or "-",
                pct(p["pass_rate"]),
                interval(p["ci"]),
                p["grade"],
                p["meets"],
                _caught(p.get("controls")),
            ]
            if p["evidenced"]
            else [pid, "-", "not evidenced", "", "", "", "", "", ""]
            for pid, p in d["principles"].items()
        ],
    )
    table(
        "by recipe",
        ["recipe", "cases", "pass rate", "95% interval", "grade", "blocked", "errors"],
        [
            [k, r["judged"], pct(r["pass_rate"]), interval(r["ci"]), r["grade"], r["blocked"], r["errors"]]
            for k, r in d["recipes"].items()
        ],
    )
    g = d["guards"]
    console.print(
        f"guards: {g['calls']} calls, {g['blocked']} blocked, {g['redacted']} redacted"
        + (f"; entity types {g['entity_types']}" if g["entity_types"] else "")
    )
    for key, r in d["recipes"].items():
        for w in r["worst"][:2]:
            console.print(
                f"[red]worst[/] {key} {w['case_id']} ({w['case_result_id'][:12]}): "
                + "; ".join(w["reasons"])[:160]
            )


def _rate(block: dict[str, Any] | None) -> str:
    if not block or not block.get("judged"):
        return "-"
    return f"{pct(block['pass_rate'])} ({interval(block['ci'])})"


def _caught(controls: dict[str, Any] | None) -> str:
    """Control effectiveness: how many of the model's failures never reached the caller."""
    if not controls or not controls.get("model_failures"):
        return "-"
    text = f"{controls['caught']} of {controls['model_failures']} ({pct(controls['effectiveness'])})"
    by_guard = controls.get("by_guard") or {}
    if by_guard:  # which guards acted on the failures they stopped, e.g. "checker 3"
        text += " by " + ", ".join(f"{g} {n}" for g, n in by_guard.items())
    return text


@app.command("build")
def scorecard_build(
    trial_id: str,
    framework: Annotated[
        Path | None, typer.Option(help="a framework YAML (default: the programme's)")
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Build the trial's scorecard; a new version only when the scores or the framework changed."""
    from finsandbox.supervision.framework import load_framework
    from finsandbox.supervision.scorecards import build_scorecard

    fw = load_framework(framework) if framework else None
    with open_session() as s:
        user = user_of(s, as_user)
        card, created = build_scorecard(s, trial_id, actor=actor_of(user), user=user, framework=fw)
        console.print(
            f"scorecard version {card.version} {'created' if created else 'is current (unchanged)'}"
        )
        _print_scorecard(card)


@app.command("show")
def scorecard_show(
    trial_id: str,
    version: Annotated[int | None, typer.Option(help="an older version (default: the latest)")] = None,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Show a trial's scorecard (building the first version if there is none yet)."""
    from finsandbox.errors import NotFound
    from finsandbox.supervision.scorecards import build_scorecard, scorecard_version

    with open_session() as s:
        user = user_of(s, as_user)
        try:
            card = scorecard_version(s, trial_id, version, user=user)
        except NotFound:
            if version is not None:
                raise
            card, _ = build_scorecard(s, trial_id, actor=actor_of(user), user=user)
        if as_json:
            print_json({"id": card.id, "version": card.version, **card.data})
        else:
            _print_scorecard(card)


@app.command("list")
def scorecard_list(trial_id: str, as_user: AsUser = None) -> None:
    """Every version of a trial's scorecard."""
    from finsandbox.supervision.scorecards import list_scorecards

    with open_session(write=False) as s:
        cards = list_scorecards(s, trial_id, user=user_of(s, as_user))
        table(
            f"scorecards of trial {trial_id}",
            ["id", "version", "framework", "score version", "overall", "grade", "created"],
            [
                [
                    c.id,
                    c.version,
                    c.framework_name,
                    c.score_version,
                    pct(c.data["overall"]["pass_rate"]),
                    c.data["overall"]["grade"],
                    c.created_at,
                ]
                for c in cards
            ],
        )


@app.command("compare")
def scorecard_compare(trial_a: str, trial_b: str, as_json: JsonFlag = False, as_user: AsUser = None) -> None:
    """What got better or worse from trial A to trial B, and whether it is beyond noise."""
    from finsandbox.supervision.scorecards import compare_trials

    with open_session() as s:
        user = user_of(s, as_user)
        result = compare_trials(s, trial_a, trial_b, user=user, actor=actor_of(user))
    if as_json:
        print_json(result)
        return
    for title, key in (
        ("by principle, residual (what reached the caller)", "residual"),
        ("by principle, inherent (the model alone)", "inherent"),
        ("by recipe", "recipes"),
    ):
        table(
            f"{title} ({result['test']}, p < {result['significance']})",
            ["name", "before", "after", "change", "p", "verdict"],
            [
                [
                    c["name"],
                    pct(c["before"]),
                    pct(c["after"]),
                    "-" if c["delta"] is None else f"{100 * c['delta']:+.0f} pts",
                    "-" if c["p_value"] is None else f"{c['p_value']:.3f}",
                    c["verdict"],
                ]
                for c in result[key]
                if c["verdict"] != "no data"
            ],
        )
    for note in result["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    console.print(
        f"better: {', '.join(result['better']) or 'nothing'}; "
        f"worse: {', '.join(result['worse']) or 'nothing'}"
    )
