"""Fine-tunes over the JSON API as a bank's CI pipeline drives them (start, follow, provenance, chart,
list; other banks see nothing, viewers and read-only tokens start nothing), and a fine-tune job
interrupted after a checkpoint that goes on from it: its loss curve continues (the curve a run never
stopped gives), no step is trained twice or past the total, and its provenance says it was resumed.

Needs the optional `finetune` extra; skipped with the reason when it is absent. The runs are tiny
(three rows, eight steps) and share one base model loaded once for the module.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from finsandbox.finetune import unavailable

REASON = unavailable()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(REASON is not None, reason=REASON or ""),
    pytest.mark.timeout(900),
]

ROWS = [
    {"prompt": "Triage: card used in two countries within an hour.", "completion": "HIGH: velocity."},
    {"prompt": "Triage: salary credited on the usual day.", "completion": "LOW: routine."},
    {"prompt": "Triage: new payee, whole balance sent at 3am.", "completion": "HIGH: drain."},
]
PARAMS = {
    "rank": 4,
    "alpha": 8,
    "dropout": 0.0,
    "learning_rate": 1e-2,
    "max_steps": 8,
    "batch_size": 2,  # two batches an epoch: the interruption falls inside an epoch
    "max_seq_len": 160,
    "seed": 5,
}
STOP_AT = 3


@pytest.fixture(scope="module")
def base_model() -> Any:
    from finsandbox.finetune.trainer import load_base
    from finsandbox.gateway.backends.llamacpp import bundled_model_path

    return load_base(bundled_model_path())


@pytest.fixture
def shared_model(monkeypatch: pytest.MonkeyPatch, base_model: Any) -> None:
    """Jobs train on the module's model instead of loading their own (the trainer leaves it as it was)."""
    from finsandbox.finetune import trainer
    from finsandbox.jobs.kinds import finetune as kind

    monkeypatch.setattr(trainer, "load_base", lambda *_a, **_k: base_model)
    monkeypatch.setattr(kind, "CHECKPOINT_EVERY_S", 0.0)  # a checkpoint after every step


@pytest.fixture
def steps_seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The steps the job reports, attempt after attempt; the runner is killed (KeyboardInterrupt, as
    at Ctrl-C) when step STOP_AT has been reported once."""
    from finsandbox.jobs.runner import Context

    seen: list[int] = []
    real = Context.progress

    def progress(self: Any, done: int, total: int, message: str = "") -> None:
        seen.append(done)
        if done == STOP_AT and seen.count(STOP_AT) == 1:
            raise KeyboardInterrupt
        real(self, done, total, message)

    monkeypatch.setattr(Context, "progress", progress)
    yield seen


def _upload(prog: Any, rows: list[dict[str, Any]], name: str = "toy") -> None:
    from finsandbox.access import get_user
    from finsandbox.evals.datasets import upload_dataset
    from finsandbox.programme import get_workspace
    from finsandbox.store import session_scope

    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    with session_scope(write=True) as s:
        user = get_user(s, prog.member_email)
        upload_dataset(
            s, user, get_workspace(s, prog.workspace), name=name, filename=f"{name}.jsonl", data=data
        )


def _token(email: str, scopes: tuple[str, ...] = ("read", "write")) -> dict[str, str]:
    from finsandbox.access import get_user
    from finsandbox.access.tokens import create_token
    from finsandbox.store import session_scope

    with session_scope(write=True) as s:
        secret = create_token(s, get_user(s, email), name="ci", actor="test", scopes=scopes).secret
    return {"Authorization": f"Bearer {secret}"}


def _viewer(prog: Any) -> str:
    from finsandbox.access import create_user, get_user
    from finsandbox.programme import add_member, get_workspace
    from finsandbox.store import session_scope

    email = f"viewer@{prog.workspace}.example.com"
    with session_scope(write=True) as s:
        owner = get_user(s, prog.member_email)
        user = create_user(
            s,
            email=email,
            display_name="Viewer",
            institution=owner.institution,
            password="correct-horse-1",
            actor="test",
        )
        add_member(s, get_workspace(s, prog.workspace), user, role="viewer", actor="test")
    return email


def _ledger(kind: str) -> list[dict[str, Any]]:
    from finsandbox.store import session_scope
    from finsandbox.store.models import LedgerEntry

    with session_scope() as s:
        return [json.loads(e.payload) for e in s.scalars(select(LedgerEntry).where(LedgerEntry.kind == kind))]


def test_a_pipeline_fine_tunes_over_the_api_and_an_interrupted_run_resumes_from_its_checkpoint(
    db: str,
    make_programme: Any,
    client: TestClient,
    base_model: Any,
    shared_model: None,
    steps_seen: list[int],
) -> None:
    from finsandbox.finetune import parse_params, run_finetune
    from finsandbox.finetune.gguf_adapter import file_sha256
    from finsandbox.gateway.backends.llamacpp import bundled_model_path
    from finsandbox.jobs.runner import claim, execute
    from finsandbox.jobs.service import job_dir
    from tests.jobs.conftest import run_queue

    prog = make_programme(slug="ws-ft")
    _upload(prog, ROWS)
    other = make_programme(slug="ws-other", bank="Beta Bank")
    ci = _token(prog.member_email)

    r = client.post(
        "/api/v1/workspaces/ws-ft/finetunes", json={"dataset": "toy", "params": PARAMS}, headers=ci
    )
    assert r.status_code == 202, r.text
    run = r.json()
    run_id = run["id"]
    assert (run["kind"], run["state"], run["workspace"]) == ("finetune", "queued", "ws-ft")
    assert run["hyperparameters"]["max_steps"] == 8 and run["loss_curve"] == [] and run["endpoint"] is None
    listed = client.get("/api/v1/workspaces/ws-ft/finetune-runs", headers=ci).json()
    assert [x["id"] for x in listed] == [run_id]

    # The runner dies after the checkpoint of step 3.
    assert claim("runner-1", concurrency=1) == run_id
    with pytest.raises(KeyboardInterrupt):
        execute(run_id, "runner-1")
    run = client.get(f"/api/v1/finetune-runs/{run_id}", headers=ci).json()
    assert run["state"] == "interrupted" and run["resumable"] and run["endpoint"] is None
    assert run["steps_done"] == STOP_AT and len(run["loss_curve"]) == STOP_AT
    checkpoint = job_dir(prog.workspace_id, run_id) / "checkpoint.pt"
    assert stat.S_IMODE(checkpoint.stat().st_mode) == 0o600
    first_part = run["loss_curve"]

    r = client.post(f"/api/v1/jobs/{run_id}/resume", headers=ci)
    assert r.status_code == 200 and r.json()["state"] == "queued"
    assert run_queue() == [(run_id, "succeeded")]

    # Steps 1-3, then 4-8 after the resume: none twice, none past the total.
    assert steps_seen == [1, 2, 3, 4, 5, 6, 7, 8]
    run = client.get(f"/api/v1/finetune-runs/{run_id}", headers=ci).json()
    assert run["state"] == "succeeded" and run["endpoint"] == "smollm2-ft-1"
    assert run["steps_done"] == run["total_steps"] == 8 and run["resumed_from_steps"] == [STOP_AT]
    curve = run["loss_curve"]
    assert curve[:STOP_AT] == first_part
    assert not checkpoint.exists()  # the adapter is registered: nothing left to resume

    # The curve is the one a run never interrupted gives: weights, optimiser and row order came back.
    ref = make_programme(slug="ws-ref", bank="Gamma Bank")
    _upload(ref, ROWS)
    whole = run_finetune("ws-ref", "toy", parse_params(PARAMS), actor="test", loaded=base_model)
    assert np.allclose(curve, whole.provenance["training"]["loss_curve"], rtol=1e-3, atol=1e-4)
    assert curve[-1] < curve[0]

    # Provenance: from the ledger, over the API, with the resume recorded.
    items = client.get("/api/v1/workspaces/ws-ft/finetunes", headers=ci).json()
    assert [i["endpoint"] for i in items] == ["smollm2-ft-1"]
    item = client.get("/api/v1/workspaces/ws-ft/finetunes/smollm2-ft-1", headers=ci).json()
    assert item["served"] and item["job_id"] == run_id and item["ledger_seq"] == run["ledger_seq"]
    assert item["base_model"]["sha256"] == file_sha256(bundled_model_path())
    assert item["dataset"]["name"] == "toy" and len(item["dataset"]["sha256"]) == 64
    assert item["params"]["rank"] == 4 and item["params"]["max_steps"] == 8
    assert item["training"]["loss_curve"] == curve and item["training"]["resumed_from_steps"] == [STOP_AT]
    assert (
        item["pseudonymisation"]["training_set_sha256"]
        == whole.provenance["pseudonymisation"]["training_set_sha256"]
    )
    [resumed] = _ledger("finetune.resumed")
    assert resumed["resumed_from"]["step"] == STOP_AT
    assert len(_ledger("finetune.started")) == 2  # this run's first attempt and the reference run
    r = client.get("/api/v1/workspaces/ws-ft/finetunes/smollm2-ft-1/chart", headers=ci)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in r.text

    # Another bank: none of it exists. A viewer and a read-only token start nothing.
    outsider = _token(other.member_email)
    for url in (
        f"/api/v1/finetune-runs/{run_id}",
        "/api/v1/workspaces/ws-ft/finetune-runs",
        "/api/v1/workspaces/ws-ft/finetunes",
        "/api/v1/workspaces/ws-ft/finetunes/smollm2-ft-1",
        "/api/v1/workspaces/ws-ft/finetunes/smollm2-ft-1/chart",
    ):
        assert client.get(url, headers=outsider).status_code == 404, url
    body = {"dataset": "toy", "params": PARAMS}
    r = client.post("/api/v1/workspaces/ws-ft/finetunes", json=body, headers=outsider)
    assert r.status_code == 404
    r = client.post("/api/v1/workspaces/ws-ft/finetunes", json=body, headers=_token(_viewer(prog)))
    assert r.status_code == 403 and "fine-tune" in r.json()["error"]["message"]
    r = client.post(
        "/api/v1/workspaces/ws-ft/finetunes", json=body, headers=_token(prog.member_email, ("read",))
    )
    assert r.status_code == 403
    assert len(client.get("/api/v1/workspaces/ws-ft/finetune-runs", headers=ci).json()) == 1


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"dataset": "toy", "params": {"rank": 0}}, "params.rank"),
        ({"dataset": "toy", "params": {"warp": 1}}, "params.warp"),
        ({"dataset": "toy", "params": {"target_modules": ["lm_head"]}}, "params.target_modules"),
        ({"dataset": "toy", "params": {"device": "tpu"}}, "params.device"),
        ({"dataset": "x" * 201}, "dataset"),
        ({"dataset": "nope"}, "dataset"),
        ({"dataset": "toy", "base": "nope"}, "base"),
        ({"dataset": "toy", "priority": 1}, "priority"),
        ({"params": {}}, "dataset"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_queues_nothing(
    db: str, make_programme: Any, client: TestClient, body: dict[str, Any], param: str
) -> None:
    prog = make_programme(slug="ws-bad")
    _upload(prog, ROWS)
    ci = _token(prog.member_email)
    r = client.post("/api/v1/workspaces/ws-bad/finetunes", json=body, headers=ci)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    assert client.get("/api/v1/workspaces/ws-bad/finetune-runs", headers=ci).json() == []


def test_a_fine_tune_the_allocation_cannot_pay_for_is_a_409_and_unknown_ones_are_404(
    db: str, make_programme: Any, client: TestClient
) -> None:
    from finsandbox.jobs.service import set_allocation
    from finsandbox.programme import get_workspace
    from finsandbox.store import session_scope

    prog = make_programme(slug="ws-alloc")
    _upload(prog, ROWS)
    ci = _token(prog.member_email)
    with session_scope(write=True) as s:
        set_allocation(s, get_workspace(s, prog.workspace), {"cpu_seconds": 1}, actor="operator")
    r = client.post("/api/v1/workspaces/ws-alloc/finetunes", json={"dataset": "toy"}, headers=ci)
    assert r.status_code == 409 and r.json()["error"]["code"] == "allocation_exceeded"
    assert r.json()["error"]["param"] == "cpu_seconds"
    for url in (
        "/api/v1/workspaces/ws-alloc/finetunes/smollm2",  # an endpoint, but not a fine-tune
        "/api/v1/workspaces/ws-alloc/finetunes/smollm2-ft-9/chart",
        "/api/v1/finetune-runs/0123456789abcdef",
    ):
        assert client.get(url, headers=ci).status_code == 404, url
    assert client.get("/api/v1/workspaces/ws-alloc/finetunes", headers=ci).json() == []


def test_a_checkpoint_that_does_not_match_its_file_is_not_continued(
    db: str, make_programme: Any, base_model: Any, tmp_path: Any
) -> None:
    from finsandbox.finetune import Checkpoints, parse_params, run_finetune

    prog = make_programme(slug="ws-ckpt")
    _upload(prog, ROWS)
    params = parse_params({**PARAMS, "max_steps": 3})
    saved: list[dict[str, Any]] = []
    path = tmp_path / "checkpoint.pt"
    calls = iter([False, True])  # stopped (cancelled) before its second step
    stopped = run_finetune(
        "ws-ckpt",
        "toy",
        params,
        actor="test",
        loaded=base_model,
        should_stop=lambda: next(calls),
        checkpoints=Checkpoints(path=path, on_save=saved.append, every_seconds=3600),
    )
    # A cancelled run saves where it stopped, so that it resumes from there.
    assert stopped.cancelled and [s["step"] for s in saved] == [1] and path.is_file()
    assert saved[0]["loss_curve"] == stopped.provenance["training"]["loss_curve"]

    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")  # altered after it was made
    outcome = run_finetune(
        "ws-ckpt",
        "toy",
        params,
        actor="test",
        loaded=base_model,
        checkpoints=Checkpoints(path=path, on_save=saved.append, resume=saved[0], every_seconds=3600),
    )
    training = outcome.provenance["training"]
    assert training["resumed_from_steps"] == [] and len(training["loss_curve"]) == 3
    assert "does not match its digest" in training["checkpoint_discarded"]
    assert "does not match its digest" in _ledger("finetune.started")[-1]["checkpoint_discarded"]
    assert _ledger("finetune.resumed") == []
