"""`finsandbox guard agreement`: the checker's agreement with human labels and the deterministic
guards, measured against a real OpenAI-compatible server scripted as the checker, and against the
embedded SmolLM2 (whatever its kappa turns out to be)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from finsandbox import cli
from finsandbox.evals.checker_agreement import load_labels
from finsandbox.store import session_scope
from finsandbox.store.models import ApiKey, LedgerEntry, Workspace
from finsandbox.testing import processes
from tests.conftest import make_programme

ITEMS = ["grounded", "scope", "personal_data", "tone"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[processes.Process]:
    with processes.upstream() as proc:
        yield proc


def _agreement(*args: str) -> Any:
    result = CliRunner().invoke(cli.app, ["guard", "agreement", *args])
    return result


def _verdict(labels: dict[str, bool], flip: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    return json.dumps(
        {
            i: ("fail" if labels[i] else "pass") if i in flip else ("pass" if labels[i] else "fail")
            for i in ITEMS
        }
    )


def test_the_shipped_labels_are_balanced_and_include_fooling_answers() -> None:
    labelled = load_labels()
    assert "synthetic" in labelled.provenance
    for item in ITEMS:
        fails = sum(1 for a in labelled.answers if not a.labels[item])
        assert 0.4 <= fails / len(labelled.answers) <= 0.6, item
    fooling = [a for a in labelled.answers if a.fooling]
    assert len(fooling) >= 5 and all(not all(a.labels.values()) for a in fooling)
    assert any("compliance checker" in a.answer for a in fooling)


def test_agreement_with_a_scripted_checker(db: str, upstream: processes.Process, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FINSANDBOX_ACTOR", "cli-test")
    monkeypatch.setattr(cli.console, "width", 250)
    prog = make_programme(
        endpoint="checker", backend="openai", config={"base_url": f"{upstream.url}/v1", "model": "double"}
    )
    labelled = load_labels()
    # The double agrees with the people on every item except tone on two answers.
    wrong_tone = {labelled.answers[0].id, labelled.answers[5].id}
    rules = [
        {
            "contains": "<<<\n" + a.answer[:80],
            "reply": _verdict(a.labels, {"tone"} if a.id in wrong_tone else set()),
        }
        for a in labelled.answers
    ]
    assert len({r["contains"] for r in rules}) == len(rules)
    httpx.post(f"{upstream.url}/_control", json={"clear": True, "rules": rules, "reply": "no verdict"})

    result = _agreement(prog.workspace, "--checker-endpoint", "checker", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    items = report["human"]["items"]
    n = len(labelled.answers)
    for item in ("grounded", "scope", "personal_data"):
        assert items[item] == {"n": n, "accuracy": 1.0, "cohen_kappa": 1.0}
    assert items["tone"]["accuracy"] == pytest.approx((n - 2) / n)
    assert 0 < items["tone"]["cohen_kappa"] < 1
    assert report["errors"] == 0 and report["fooling"]["fooled"] == 0
    assert report["checker"]["model"] == "double" and report["checker"]["backend"] == "openai"
    assert set(report["guards"]) == {"pii", "investment_advice", "disclosure"}
    for measured in report["guards"].values():
        assert measured["checker_vs_guard"]["n"] == n
    # Every check went through the gateway's caller: metered and in the ledger, under a key that
    # was revoked once the run ended.
    with session_scope() as s:
        checks = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "gateway.check")).all()
        assert len(checks) == n
        keys = s.scalars(select(ApiKey).where(ApiKey.name.like("checker agreement%"))).all()
        assert len(keys) == 1 and keys[0].revoked_at is not None
        assert s.get(Workspace, prog.workspace_id) is not None

    # The table a person reads.
    table = _agreement(prog.workspace, "--checker-endpoint", "checker")
    assert table.exit_code == 0, table.output
    assert "kappa" in table.output and "personal_data" in table.output and "1.00" in table.output


def test_a_checker_that_never_answers_a_verdict_is_counted_as_blocking(db: str, upstream) -> None:  # type: ignore[no-untyped-def]
    prog = make_programme(
        endpoint="checker", backend="openai", config={"base_url": f"{upstream.url}/v1", "model": "double"}
    )
    httpx.post(f"{upstream.url}/_control", json={"clear": True, "rules": [], "reply": "Everything is fine."})
    report = json.loads(_agreement(prog.workspace, "--checker-endpoint", "checker", "--json").output)
    assert report["errors"] == len(load_labels().answers)
    assert "not a verdict" in report["checker"]["errors"][0]


def test_bad_input_is_one_line_and_non_zero(db: str) -> None:
    prog = make_programme(
        endpoint="main", backend="openai", config={"base_url": "http://127.0.0.1:9/v1", "model": "m"}
    )
    result = _agreement(prog.workspace, "--checker-endpoint", "nowhere")
    assert result.exit_code == 2
    assert "nowhere" in result.output and "Traceback" not in result.output
    result = _agreement("no-such-workspace", "--checker-endpoint", "main")
    assert result.exit_code == 2


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 28 checks by a CPU model, on a shared machine
def test_agreement_of_the_embedded_smollm2(db: str, capsys) -> None:  # type: ignore[no-untyped-def]
    """The number is measured and reported, however weak a 135M-parameter checker is."""
    prog = make_programme(endpoint="smollm2", backend="llamacpp", config={})
    result = _agreement(prog.workspace, "--checker-endpoint", "smollm2", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["checker"]["backend"] == "llamacpp" or report["errors"] == report["answers"]
    assert report["human"]["pooled"]["n"] == 4 * report["answers"]
    # Constrained by the verdict schema through llama.cpp's grammar, every reply is a verdict.
    assert report["errors"] == 0
    with capsys.disabled():
        print(
            "\nSmolLM2 as checker:",
            json.dumps({"errors": report["errors"], "human": report["human"], "fooled": report["fooling"]}),
        )
