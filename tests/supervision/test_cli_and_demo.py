"""End to end: a real trial through the gateway (stub upstream), then the supervision commands as a
supervisor and a participant type them, and the demo hook that `make demo` calls."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finsandbox import cli
from finsandbox.evals import trials
from finsandbox.evals.trial_config import TrialConfig
from finsandbox.store import session_scope
from finsandbox.testing import processes
from tests.conftest import make_programme
from tests.supervision.helpers import make_supervisor
from tests.trials.conftest import write_suite


@pytest.fixture(scope="module")
def upstream():  # type: ignore[no-untyped-def]
    with processes.upstream() as up:
        yield up


def _run_trial(upstream_url: str, suite: Path) -> str:
    with session_scope(write=True) as s:
        trial = trials.create_trial(
            s, TrialConfig(workspace="ws-sv", endpoint="stub", suites=[str(suite)]), actor="tester"
        )
        trial_id = trial.id
    asyncio.run(trials.run_trial(trial_id))
    return trial_id


@pytest.fixture
def trial_run(db: str, upstream, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    prog = make_programme(
        slug="ws-sv",
        endpoint="stub",
        backend="openai",
        config={"base_url": f"{upstream.url}/v1", "model": "m"},
    )
    sup = make_supervisor()
    first = _run_trial(upstream.url, write_suite(tmp_path, 6))
    return {"trial": first, "owner": prog.member_email, "sup": sup, "suite": str(tmp_path / "tiny.yaml")}


def _invoke(*args: str, ok: bool = True) -> str:
    cli.console.width = 250
    result = CliRunner().invoke(cli.app, list(args))
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_supervisor_and_participant_work_a_review_from_the_command_line(
    trial_run: dict[str, str], tmp_path: Path
) -> None:
    trial_id, sup, owner = trial_run["trial"], trial_run["sup"], trial_run["owner"]
    out = _invoke("scorecard", "build", trial_id, "--as", owner)
    assert "scorecard version 1 created" in out
    assert "reliability_accuracy" in out and "50%" in out  # the tiny suite's echo recipe passes 3 of 6
    assert "scorecard version 1 is current" in _invoke("scorecard", "build", trial_id)
    with session_scope() as s:
        from finsandbox.supervision.scorecards import latest_scorecard

        card = latest_scorecard(s, trial_id)
        worst = card.data["recipes"]["tiny/echo"]["worst"][0]
    review_id = _invoke("review", "open", card.id, "--as", sup).strip().splitlines()[-1]
    _invoke(
        "review",
        "finding",
        review_id,
        "--as",
        sup,
        "--severity",
        "high",
        "--principle",
        "reliability_accuracy",
        "--text",
        "Echo answers miss the expected text.",
        "--case",
        worst["case_result_id"],
        "--ledger",
        str(worst["ledger_seqs"][0]),
    )
    _invoke(
        "review",
        "action",
        review_id,
        "--as",
        sup,
        "--text",
        "Fix prompts.",
        "--due",
        "2027-01-31",
        "--finding",
        "1",
    )
    _invoke("review", "respond", review_id, "--as", owner, "--text", "Prompt fixed.", "--finding", "1")
    _invoke("review", "decide", review_id, "changes_requested", "--as", sup, "--note", "Rerun.")
    shown = _invoke("review", "show", review_id, "--as", owner)
    assert "changes_requested" in shown and "Prompt fixed." in shown and "Echo answers miss" in shown
    # a participant may not decide: one clear line, exit 1, nothing written (the real entry point)
    env = {**os.environ, "FINSANDBOX_USER": owner}
    done = subprocess.run(
        [sys.executable, "-m", "finsandbox", "review", "decide", review_id, "accepted"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: only supervisors decide a review ({owner} has the role participant)"
    )
    # exit report and bundle
    out = _invoke("report", "exit", "ws-sv", "--pdf", "-o", str(tmp_path / "out"), "--as", sup)
    assert (tmp_path / "out" / "exit-report-ws-sv.pdf").read_bytes().startswith(b"%PDF")
    assert "pdf:" in out
    bundle = tmp_path / "b.zip"
    _invoke("bundle", "export", "ws-sv", "-o", str(bundle), "--no-pdf")
    key = tmp_path / "pub.pem"
    _invoke("bundle", "public-key", "-o", str(key))
    assert "bundle OK" in _invoke("bundle", "verify", str(bundle), "--public-key", str(key))
    # tamper with the report and verify again through the real entry point
    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(tampered, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(
                name, data.replace(b"Echo answers", b"All answers") if name == "report.html" else data
            )
    done = subprocess.run(
        [sys.executable, "-m", "finsandbox", "bundle", "verify", str(tampered), "--public-key", str(key)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "report.html: edited (its SHA-256 does not match the manifest)" in done.stderr


def test_rescore_and_compare_from_the_command_line(
    trial_run: dict[str, str], upstream, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    trial_id = trial_run["trial"]
    _invoke("scorecard", "build", trial_id)
    trials.rescore(trial_id, actor="tester")
    assert "scorecard version 2 created" in _invoke("scorecard", "build", trial_id)
    listed = _invoke("scorecard", "list", trial_id)
    assert " 1 " in listed and " 2 " in listed
    second = _run_trial(upstream.url, Path(trial_run["suite"]))
    out = _invoke("scorecard", "compare", trial_id, second)
    assert "no significant change" in out and "better: nothing; worse: nothing" in out


def test_token_command_prints_a_personal_token_once(trial_run: dict[str, str]) -> None:
    out = _invoke("programme", "user", "token", trial_run["owner"], "--quiet")
    secret = out.strip()
    assert secret.startswith("fsu_")
    with session_scope() as s:
        from finsandbox.access.tokens import authenticate_token

        assert authenticate_token(s, secret).email == trial_run["owner"]
    _invoke("programme", "user", "revoke-token", "_".join(secret.split("_")[:2]))


def test_demo_review_produces_scorecards_review_report_and_bundle(
    trial_run: dict[str, str], tmp_path: Path
) -> None:
    from pypdf import PdfReader

    from finsandbox.supervision.bundles import verify_bundle
    from finsandbox.supervision.demo import demo_review
    from finsandbox.supervision.keys import load_public_key

    out = demo_review(
        workspace="ws-sv",
        trial_ids=[trial_run["trial"]],
        supervisor_email=trial_run["sup"],
        participant_email=trial_run["owner"],
        output_dir=tmp_path / "demo",
    )
    assert [p.name for p in out.scorecards] == [f"{trial_run['trial']}-v1.json"]
    text = "\n".join(p.extract_text() for p in PdfReader(out.report_pdf).pages)
    assert "Finding 1" in text and out.finding[:30] in text
    assert verify_bundle(out.bundle, load_public_key(out.public_key)).ok
    assert any(line.startswith("exit report: ") and line.endswith(".pdf") for line in out.lines())


def test_the_demo_says_how_to_install_the_finetune_extra_when_it_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rich.console import Console

    import finsandbox.finetune as finetune
    from finsandbox.demo import finetune_demo

    monkeypatch.setattr(finetune, "unavailable", lambda: "torch is not installed")
    console = Console(record=True, width=200)
    finetune_demo(console, "http://127.0.0.1:9")
    assert "pip install 'finsandbox[finetune]'" in console.export_text()
