"""Trials end to end through the gateway: storage, ledger links, resume, cancel, rescore, export."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from finsandbox import ledger
from finsandbox.errors import ConfigError, InvalidRequest
from finsandbox.evals import trials
from finsandbox.evals.trial_config import TrialConfig
from finsandbox.store import session_scope
from finsandbox.store.models import CaseResult, LedgerEntry, Trial, UsageRecord
from finsandbox.testing import processes
from tests.conftest import make_programme
from tests.trials.conftest import write_suite


def _programme(upstream_url: str, slug: str = "ws-trials") -> None:
    make_programme(
        slug=slug, endpoint="stub", backend="openai", config={"base_url": f"{upstream_url}/v1", "model": "m"}
    )


def _create(suite: Path, **kw) -> str:  # type: ignore[no-untyped-def]
    with session_scope(write=True) as s:
        trial = trials.create_trial(
            s,
            TrialConfig(
                workspace=kw.pop("workspace", "ws-trials"), endpoint="stub", suites=[str(suite)], **kw
            ),
            actor="tester",
        )
        return trial.id


def test_trial_stores_scores_and_links_every_call_to_the_ledger(db: str, upstream, tmp_path: Path) -> None:
    _programme(upstream.url)
    trial_id = _create(write_suite(tmp_path, 6), concurrency=3)
    seen: list[int] = []
    trial = asyncio.run(trials.run_trial(trial_id, on_progress=lambda done, total, r: seen.append(done)))
    assert trial.status == "completed"
    # 6 echo cases + 1 noisy base case + its casing variants
    with session_scope() as s:
        rows = trials.results(s, trial_id)
        assert len(rows) == trial.total_cases == trial.done_cases
        echo = {r.case_id: r for r in rows if r.recipe == "echo"}
        assert [echo[f"c{i}"].passed for i in range(6)] == [True, False, True, False, True, False]
        assert echo["c0"].output == "echo: question 0"
        assert any(r.attack == "noise" for r in rows)
        # every case made exactly one model call, metered with the trial and case ids, in the ledger
        usage = list(s.scalars(select(UsageRecord).where(UsageRecord.trial_id == trial_id)))
        assert sorted(u.case_id for u in usage) == sorted(r.item for r in rows)
        for r in rows:
            (seq,) = r.evidence["ledger_seqs"]
            entry = s.get(LedgerEntry, seq)
            assert entry is not None and entry.kind == "gateway.chat"
            payload = json.loads(entry.payload)
            assert payload["trial"] == trial_id and payload["case"] == r.item
        kinds = [e.kind for e in s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))]
        assert (
            kinds.count("trial.created")
            == kinds.count("trial.started")
            == kinds.count("trial.completed")
            == 1
        )
        assert ledger.verify(s).ok
    assert seen[-1] == trial.total_cases
    summary = trial.summary
    assert summary["recipes"]["tiny/echo"]["passed"] == 3
    assert summary["recipes"]["tiny/echo"]["pass_rate"] == pytest.approx(0.5)
    # `contains` evidences reliability; no check of the recipe evidences transparency.
    assert summary["principles"]["reliability_accuracy"]["n"] == 6
    assert "transparency_disclosure" not in summary["principles"]


def test_trial_key_is_revoked_when_the_trial_ends(db: str, upstream, tmp_path: Path) -> None:
    _programme(upstream.url)
    trial = asyncio.run(trials.run_trial(_create(write_suite(tmp_path, 2))))
    with session_scope() as s:
        from finsandbox.access import get_key, key_state

        assert key_state(get_key(s, trial.config["key_prefix"])) == "revoked"


def test_rescore_makes_a_new_version_without_calling_a_model(db: str, upstream, tmp_path: Path) -> None:
    _programme(upstream.url)
    trial = asyncio.run(trials.run_trial(_create(write_suite(tmp_path, 4))))
    with session_scope() as s:
        calls = s.scalar(select(func.count()).select_from(UsageRecord))
    again = trials.rescore(trial.id, actor="tester")
    assert again.score_version == 2
    assert again.summary["recipes"]["tiny/echo"] == trial.summary["recipes"]["tiny/echo"]
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(UsageRecord)) == calls
        assert "trial.rescored" in {e.kind for e in s.scalars(select(LedgerEntry))}


def test_export_jsonl_and_csv(db: str, upstream, tmp_path: Path) -> None:
    _programme(upstream.url)
    trial = asyncio.run(trials.run_trial(_create(write_suite(tmp_path, 2))))
    with session_scope() as s:
        lines = trials.export(s, trial.id, "jsonl").splitlines()
        assert len(lines) == trial.total_cases
        first = json.loads(lines[0])
        assert {"input", "output", "scores", "evidence", "passed"} <= set(first)
        csv_text = trials.export(s, trial.id, "csv")
        assert csv_text.splitlines()[0].startswith("item,suite,recipe")
        with pytest.raises(InvalidRequest, match="unknown export format"):
            trials.export(s, trial.id, "xml")


def test_bad_trial_definitions_are_refused_before_anything_runs(db: str, upstream, tmp_path: Path) -> None:
    _programme(upstream.url)
    suite = write_suite(tmp_path, 2)
    with pytest.raises(ConfigError, match="neither a reference use case"):
        _create(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="unknown recipe"):
        _create(suite, recipes=["nope"])
    with pytest.raises(ConfigError, match="unknown executor"):
        _create(suite, executor="spark")
    with pytest.raises(ConfigError, match=r"unknown target 'browser' \(known: endpoint, external\)"):
        _create(suite, target="browser")
    with pytest.raises(InvalidRequest, match="external target needs external_url") as refused:
        _create(suite, target="external")
    assert refused.value.param == "external_url"
    with pytest.raises(InvalidRequest, match="cannot be reached"):
        _create(
            suite, external_url=f"http://127.0.0.1:{processes.free_port()}/answer", gateway_url="http://x/v1"
        )
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Trial)) == 0


def test_a_changed_suite_cannot_be_resumed(db: str, upstream, tmp_path: Path) -> None:
    _programme(upstream.url)
    suite = write_suite(tmp_path, 2)
    trial_id = _create(suite)
    suite.write_text(suite.read_text().replace("question 0", "question zero"))
    trial = asyncio.run(trials.run_trial(trial_id))
    assert trial.status == "failed" and "changed since trial" in (trial.error or "")


def test_an_unreachable_upstream_stops_the_trial_with_the_reason(db: str, tmp_path: Path) -> None:
    _programme(f"http://127.0.0.1:{processes.free_port()}")
    trial = asyncio.run(trials.run_trial(_create(write_suite(tmp_path, 14), concurrency=1)))
    assert trial.status == "failed"
    assert "cannot be reached" in (trial.error or "")
    with session_scope() as s:
        rows = trials.results(s, trial.id)
        assert 10 <= len(rows) < trial.total_cases
        assert all(r.error and r.passed is False for r in rows)


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "finsandbox", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _count(trial_id: str) -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).where(CaseResult.trial_id == trial_id)) or 0


def test_a_killed_run_resumes_without_repeating_finished_cases(
    db: str, slow_upstream, tmp_path: Path
) -> None:
    _programme(slow_upstream.url)
    trial_id = _create(write_suite(tmp_path, 12), concurrency=1)
    env = {**os.environ, "COLUMNS": "200"}
    proc = _cli("trial", "resume", trial_id, env=env)
    deadline = time.monotonic() + 60
    while _count(trial_id) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    with session_scope() as s:
        before = {r.item for r in trials.results(s, trial_id)}
        assert s.get(Trial, trial_id).status == "running"  # killed, not finished
    assert 4 <= len(before) < 15
    done = _cli("trial", "resume", trial_id, env=env)
    out, _ = done.communicate(timeout=120)
    assert done.returncode == 0, out.decode()
    with session_scope() as s:
        trial = s.get(Trial, trial_id)
        rows = trials.results(s, trial_id)
        assert trial.status == "completed" and len(rows) == trial.total_cases == len({r.item for r in rows})
        calls: dict[str, int] = {}
        for u in s.scalars(select(UsageRecord).where(UsageRecord.trial_id == trial_id)):
            calls[u.case_id] = calls.get(u.case_id, 0) + 1
        assert all(calls[item] == 1 for item in before), "a finished case was called again"
        assert sum(calls.values()) <= trial.total_cases + 1  # at most the case in flight at the kill
        assert "trial.resumed" in {e.kind for e in s.scalars(select(LedgerEntry))}


def test_cancel_stops_a_running_trial(db: str, slow_upstream, tmp_path: Path) -> None:
    _programme(slow_upstream.url)
    trial_id = _create(write_suite(tmp_path, 30), concurrency=1)

    async def scenario() -> Trial:
        task = asyncio.create_task(trials.run_trial(trial_id))
        while _count(trial_id) < 2:
            await asyncio.sleep(0.1)
        with session_scope(write=True) as s:
            trials.request_cancel(s, trial_id, actor="tester")
        return await task

    trial = asyncio.run(scenario())
    assert trial.status == "cancelled"
    assert 2 <= trial.done_cases < trial.total_cases


def test_external_app_target_calls_come_back_through_the_gateway(db: str, upstream, tmp_path: Path) -> None:
    _programme(upstream.url)
    with (
        processes.server() as gw,
        processes.running(["-m", "finsandbox.testing.external_app"], "/health") as app,
    ):
        trial_id = _create(
            write_suite(tmp_path, 2),
            recipes=["echo"],
            external_url=f"{app.url}/answer",
            gateway_url=f"{gw.url}/v1",
        )
        trial = asyncio.run(trials.run_trial(trial_id))
    assert trial.status == "completed"
    with session_scope() as s:
        rows = trials.results(s, trial_id)
        assert [r.passed for r in sorted(rows, key=lambda r: r.case_id)] == [True, False]
        for r in rows:
            assert r.evidence["retrieved"], "the app's contexts are kept as evidence"
            assert len(r.evidence["ledger_seqs"]) == 1
            entry = s.get(LedgerEntry, r.evidence["ledger_seqs"][0])
            assert json.loads(entry.payload)["case"] == r.item


def test_external_app_answering_html_is_named(db: str, upstream, tmp_path: Path) -> None:
    _programme(upstream.url)
    with processes.running(["-m", "finsandbox.testing.external_app", "--mode", "html"], "/health") as app:
        trial_id = _create(
            write_suite(tmp_path, 2),
            recipes=["echo"],
            external_url=f"{app.url}/answer",
            gateway_url="http://127.0.0.1:9/v1",
        )
        trial = asyncio.run(trials.run_trial(trial_id))
    with session_scope() as s:
        rows = trials.results(s, trial.id)
        assert rows and all("returned non-JSON" in (r.error or "") and app.url in r.error for r in rows)


def test_ray_executor_on_a_local_instance(db: str, upstream, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    _programme(upstream.url)
    trial_id = _create(write_suite(tmp_path, 4), executor="ray", concurrency=2)
    trial = asyncio.run(trials.run_trial(trial_id))
    assert trial.status == "completed", trial.error
    with session_scope() as s:
        rows = trials.results(s, trial_id)
        assert len(rows) == trial.total_cases
        assert sum(1 for r in rows if r.recipe == "echo" and r.passed) == 2
        assert ledger.verify(s).ok


def test_external_app_health(upstream) -> None:
    """The stub upstream used above answers like an OpenAI server."""
    r = httpx.get(f"{upstream.url}/v1/models")
    assert r.json()["data"][0]["object"] == "model"
