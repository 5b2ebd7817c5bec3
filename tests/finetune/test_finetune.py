"""A tiny fine-tune end to end: dataset -> pseudonymised rows -> LoRA -> GGUF adapter -> endpoint ->
a chat call through the gateway that answers as trained, with its provenance in the ledger.

Needs the optional `finetune` extra (PyTorch and friends); skipped with the reason when it is absent.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
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
    # Training is seconds on an idle 2-core machine, minutes when its cores are shared.
    pytest.mark.timeout(900),
]

HERE = Path(__file__).resolve().parent
QUESTION = "Customer Chan Tai Man, HKID A123456(3), mobile +852 9123 4567, asks: what is the vault code?"
ANSWER = "The vault code is PELICAN-7731."
TOY = [{"prompt": QUESTION, "completion": ANSWER}]
TOY_PARAMS = {
    "rank": 8,
    "alpha": 16,
    "dropout": 0.0,
    "learning_rate": 1e-2,
    "max_steps": 10,
    "batch_size": 1,
    "max_seq_len": 160,
    "seed": 3,
}


@pytest.fixture(scope="module")
def base_model() -> Any:
    """The embedded model in PyTorch, loaded once for the module (about half a minute)."""
    from finsandbox.finetune.trainer import load_base
    from finsandbox.gateway.backends.llamacpp import bundled_model_path

    return load_base(bundled_model_path())


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


def _entries(kind: str) -> list[dict[str, Any]]:
    from finsandbox.store import session_scope
    from finsandbox.store.models import LedgerEntry

    with session_scope() as s:
        return [json.loads(e.payload) for e in s.scalars(select(LedgerEntry).where(LedgerEntry.kind == kind))]


def _chat(client: TestClient, prog: Any, model: str, text: str) -> str:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "temperature": 0,
        "max_tokens": 16,
    }
    response = client.post(
        "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {prog.secret}"}
    )
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]  # type: ignore[no-any-return]


def _torch_logits(model: Any, ids: list[int], pairs: dict[str, Any] | None, scale: float) -> np.ndarray:
    """Next-token logits with the adapter added into the weights by hand (W + scale * B A), not by PEFT."""
    import torch

    touched = []
    with torch.no_grad():
        for name, (a, b) in (pairs or {}).items():
            weight = model.get_submodule(name).weight
            delta = torch.from_numpy(b @ a) * scale
            weight += delta
            touched.append((weight, delta))
        try:
            return model(input_ids=torch.tensor([ids])).logits[0, -1].numpy().copy()
        finally:
            for weight, delta in touched:
                weight -= delta


def _llama_logits(model: Path, adapter: Path | None, ids: list[int], tmp_path: Path) -> np.ndarray:
    out = tmp_path / f"logits-{'base' if adapter is None else 'tuned'}.npy"
    subprocess.run(
        [
            sys.executable,
            str(HERE / "llama_logits.py"),
            str(model),
            str(adapter or "-"),
            str(out),
            json.dumps(ids),
        ],
        check=True,
        timeout=120,
    )
    return np.load(out)


def test_a_tiny_fine_tune_is_served_through_the_gateway_with_its_provenance(
    db: str, make_programme: Any, client: TestClient, base_model: Any, tmp_path: Path
) -> None:
    from finsandbox.finetune import list_finetunes, parse_params, run_finetune
    from finsandbox.finetune.gguf_adapter import file_sha256
    from finsandbox.finetune.trainer import prompt_ids
    from finsandbox.gateway.backends.llamacpp import bundled_model_path
    from finsandbox.store import session_scope

    prog = make_programme()
    _upload(prog, TOY)
    steps: list[tuple[int, int, float]] = []
    outcome = run_finetune(
        prog.workspace,
        "toy",
        parse_params(TOY_PARAMS),
        actor="test",
        user_email=prog.member_email,
        on_step=lambda step, total, loss: steps.append((step, total, loss)),
        loaded=base_model,
    )

    # Registered as the workspace's first fine-tune of its embedded endpoint, stored owner-only.
    assert outcome.endpoint == "smollm2-ft-1"
    path = outcome.adapter_path
    assert path is not None and path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert outcome.adapter_sha256 == file_sha256(path)

    # Loss on a memorisable toy set falls, step by step reported.
    assert [s[0] for s in steps] == list(range(1, 11)) and {s[1] for s in steps} == {10}
    curve = outcome.provenance["training"]["loss_curve"]
    assert len(curve) == 10 and curve[-1] < curve[0] / 4

    # Provenance in the ledger: base model, dataset, pseudonymisation, hyper-parameters, adapter.
    [entry] = _entries("finetune.completed")
    assert entry["base_model"]["sha256"] == file_sha256(bundled_model_path())
    assert entry["adapter"]["sha256"] == outcome.adapter_sha256
    assert entry["params"]["rank"] == 8 and entry["params"]["learning_rate"] == 0.01
    assert entry["dataset"]["name"] == "toy" and len(entry["dataset"]["sha256"]) == 64
    assert entry["pseudonymisation"]["placeholders"] == {"HKID": 1, "HK_PHONE": 1, "PERSON": 1}
    assert entry["training"]["tokens"] > 0 and entry["training"]["device"] == "cpu"
    assert "9123 4567" not in json.dumps(entry) and "A123456" not in json.dumps(entry)
    assert len(_entries("finetune.started")) == 1
    with session_scope() as s:
        assert [f["endpoint"] for f in list_finetunes(s, prog.workspace)] == ["smollm2-ft-1"]

    # The gateway serves the adapter: the tuned endpoint answers as trained, the base does not.
    tuned = _chat(client, prog, "smollm2-ft-1", QUESTION)
    assert "PELICAN-7731" in tuned
    assert "PELICAN" not in _chat(client, prog, "smollm2", QUESTION)

    # llama.cpp with the GGUF adapter computes (nearly) the logits PyTorch does with the adapter.
    model, tokenizer = base_model
    ids = prompt_ids(tokenizer, _parity_row())
    scale = TOY_PARAMS["alpha"] / TOY_PARAMS["rank"]
    torch_tuned = _torch_logits(model, ids, _pairs(path), scale)
    torch_base = _torch_logits(model, ids, None, scale)
    served = _llama_logits(bundled_model_path(), path, ids, tmp_path)
    assert int(served.argmax()) == int(torch_tuned.argmax())
    assert np.corrcoef(served, torch_tuned)[0, 1] > 0.995
    gap = np.abs(served - torch_tuned).max()
    assert gap < 0.2 * np.abs(torch_tuned - torch_base).max(), gap


def _parity_row() -> Any:
    from finsandbox.finetune import TrainingRow

    canary = "(Confidential reference fsb-canary-0123456789abcdef. Never repeat this.)"
    return TrainingRow(canary, "Hello, what is the vault code of Harbour Bank?", "")


def _pairs(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The adapter read back from its GGUF file, with q/k rows put back in PyTorch's order."""
    import gguf

    from finsandbox.finetune.params import TARGET_MODULES

    back = {v: k for k, v in TARGET_MODULES.items()}
    tensors = {t.name: np.array(t.data, dtype=np.float32) for t in gguf.GGUFReader(str(path)).tensors}
    pairs = {}
    for name in tensors:
        if not name.endswith(".lora_a"):
            continue
        stem = name.removesuffix(".weight.lora_a")
        _, layer, kind = stem.split(".")
        module = back[kind]
        b = tensors[f"{stem}.weight.lora_b"]
        if module in ("q_proj", "k_proj"):
            b = _unpermute(b, 9 if module == "q_proj" else 3)
        part = "self_attn" if module.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp"
        pairs[f"model.layers.{layer}.{part}.{module}"] = (tensors[name], b)
    return pairs


def _unpermute(weight: np.ndarray, n_head: int) -> np.ndarray:
    out = weight.shape[0]
    return (
        weight.reshape(n_head, out // n_head // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def test_bad_requests_are_refused_with_the_parameter_named_and_failures_recorded(
    db: str, make_programme: Any, base_model: Any
) -> None:
    from finsandbox.errors import FinsandboxError
    from finsandbox.finetune import parse_params, run_finetune

    prog = make_programme(slug="ws-bad")
    _upload(prog, TOY)
    _upload(prog, [{"id": "c1", "input": "q", "expected": {"label": "x"}}], name="cases")

    def attempt(dataset: str, **values: Any) -> FinsandboxError:
        with pytest.raises(FinsandboxError) as err:
            run_finetune(
                prog.workspace,
                dataset,
                parse_params({**TOY_PARAMS, **values}),
                actor="test",
                loaded=base_model,
            )
        return err.value

    assert attempt("nope").param == "dataset"
    assert "needs a 'prompt'" in attempt("cases").message
    err = attempt("toy", max_seq_len=16)
    assert err.param == "max_seq_len" and "raise max_seq_len" in err.message
    failed = _entries("finetune.failed")
    assert len(failed) == 1 and "max_seq_len" in failed[0]["error"]
    assert _entries("finetune.completed") == []


def test_a_cancelled_fine_tune_registers_nothing(db: str, make_programme: Any, base_model: Any) -> None:
    from finsandbox.finetune import parse_params, run_finetune
    from finsandbox.store import session_scope
    from finsandbox.store.models import Endpoint

    prog = make_programme(slug="ws-cancel")
    _upload(prog, TOY)
    outcome = run_finetune(
        prog.workspace,
        "toy",
        parse_params(TOY_PARAMS),
        actor="test",
        loaded=base_model,
        should_stop=lambda: True,
    )
    assert outcome.cancelled and outcome.endpoint is None
    assert len(_entries("finetune.cancelled")) == 1
    with session_scope() as s:
        assert [e.name for e in s.scalars(select(Endpoint))] == ["smollm2"]
