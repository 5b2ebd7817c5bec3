"""LoRA training with PyTorch and PEFT on the base weights read from the served GGUF file.

Needs the optional `finetune` extra (torch, transformers, peft, gguf); everything here imports
them inside functions, so the rest of finsandbox never pays for them. transformers reads the GGUF
file (dequantising it, and undoing the conversion's q/k row order) and builds the tokenizer and
chat template from its metadata, so the model trained is the model llama.cpp serves, byte for byte
of the same file, and the prompts are tokenised with the template the server applies.

Each row becomes the chat template's prompt (system, user, assistant header) followed by the
completion and the end-of-turn token; the loss counts the completion's tokens only. Rows are
shuffled with the seed, and the seed fixes the adapter's initialisation and dropout, so the same
rows, parameters and seed give the same adapter on the same machine.

With `Checkpoints`, the trainer saves everything the next step depends on (the LoRA weights, the
optimiser's and the schedule's state, the step, the epoch's row order and position in it, the random
states, the loss curve and counts so far) to one owner-only file, every so often and when it is
stopped; given that file back it goes on from that step, so an interrupted run continues its loss
curve and never trains more than its total steps.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from finsandbox.errors import InvalidRequest
from finsandbox.finetune.checkpoints import Checkpoints, write_private
from finsandbox.finetune.data import TrainingRow
from finsandbox.finetune.gguf_adapter import file_sha256
from finsandbox.finetune.params import FinetuneParams

StepFn = Callable[[int, int, float], None]  # (step, total steps, loss)

IGNORE = -100


@dataclass
class TrainResult:
    pairs: dict[str, tuple[np.ndarray, np.ndarray]]
    loss_curve: list[float]
    steps: int
    total_steps: int
    rows_used: int
    rows_skipped: int
    tokens: int  # every token through the model (prompt and completion, no padding)
    completion_tokens: int  # the tokens the loss was computed on
    seconds: float
    device: str
    versions: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False
    resumed_from: list[int] = field(default_factory=list)  # the step each resume went on from

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def _quiet() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def resolve_device(choice: str) -> str:
    import torch

    if choice == "cuda":
        if not torch.cuda.is_available():
            raise InvalidRequest(
                "device cuda was asked for, but PyTorch sees no CUDA GPU here (a CPU-only build or no GPU); "
                "use device cpu or auto",
                param="device",
            )
        return "cuda"
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cpu"


def load_base(model_path: Path, device: str = "cpu") -> tuple[Any, Any]:
    """(model in float32, tokenizer with the file's chat template) from a llama GGUF file."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet()
    folder, name = str(model_path.parent), model_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.to(device)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def messages_of(row: TrainingRow) -> list[dict[str, str]]:
    head = [{"role": "system", "content": row.system}] if row.system else []
    return [*head, {"role": "user", "content": row.prompt}]


def _ids(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=True)
    if hasattr(out, "keys"):
        out = out["input_ids"]
    return list(out)


def prompt_ids(tokenizer: Any, row: TrainingRow) -> list[int]:
    """The row's prompt as the server tokenises it: chat template with the assistant header."""
    return _ids(tokenizer, messages_of(row), True)


def encode(tokenizer: Any, row: TrainingRow) -> tuple[list[int], list[int]]:
    """(input ids, labels): the templated prompt, then the completion with its end-of-turn token;
    labels are IGNORE on the prompt so only the completion is learnt."""
    prompt = _ids(tokenizer, messages_of(row), True)
    full = _ids(tokenizer, [*messages_of(row), {"role": "assistant", "content": row.completion}], False)
    if full[: len(prompt)] != prompt:  # a template that rewrites earlier turns: tokenise the pieces
        full = prompt + list(tokenizer(row.completion, add_special_tokens=False)["input_ids"])
        full.append(tokenizer.eos_token_id)
    # What follows the end-of-turn token (a newline) is template decoration, not the answer.
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    tail = full[len(prompt) :]
    if isinstance(end, int) and end in tail:
        tail = tail[: tail.index(end) + 1]
    return prompt + tail, [IGNORE] * len(prompt) + tail


def train(
    model_path: Path,
    rows: list[TrainingRow],
    params: FinetuneParams,
    *,
    on_step: StepFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    loaded: tuple[Any, Any] | None = None,
    checkpoints: Checkpoints | None = None,
) -> TrainResult:
    """Train a LoRA adapter on `rows`; returns the adapter's (A, B) per module and the loss curve.

    With `checkpoints.resume`, training goes on from that checkpoint's step (see `Checkpoints`)."""
    import peft
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    device = resolve_device(params.device)
    random.seed(params.seed)
    np.random.seed(params.seed)
    torch.manual_seed(params.seed)
    model, tokenizer = loaded or load_base(model_path, device)
    model.to(device)

    encoded, skipped = [], 0
    for row in rows:
        ids, labels = encode(tokenizer, row)
        if len(ids) > params.max_seq_len:
            skipped += 1
            continue
        encoded.append((ids, labels))
    if not encoded:
        raise InvalidRequest(
            f"every row is longer than max_seq_len={params.max_seq_len} tokens; raise max_seq_len",
            param="max_seq_len",
        )

    torch.manual_seed(params.seed)
    config = LoraConfig(
        r=params.rank,
        lora_alpha=params.alpha,
        lora_dropout=params.dropout,
        target_modules=list(params.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    tuned = get_peft_model(model, config)
    try:
        done = _train_loop(
            tuned, tokenizer, encoded, skipped, params, device, on_step, should_stop, checkpoints
        )
        versions = {
            "torch": torch.__version__,
            "peft": peft.__version__,
            "transformers": transformers.__version__,
        }
        return TrainResult(**done, versions=versions)
    finally:
        # Whatever happened (an interruption included), the base model is left as it was: the caller's
        # for its next run, or a fresh one about to be dropped.
        tuned.unload()


def _train_loop(
    tuned: Any,
    tokenizer: Any,
    encoded: list[tuple[list[int], list[int]]],
    skipped: int,
    params: FinetuneParams,
    device: str,
    on_step: StepFn | None,
    should_stop: Callable[[], bool] | None,
    checkpoints: Checkpoints | None,
) -> dict[str, Any]:
    """The training steps (from a checkpoint when `checkpoints.resume` is set); TrainResult's fields."""
    import torch

    tuned.train()
    trainable = {n: p for n, p in tuned.named_parameters() if p.requires_grad}
    optimiser = torch.optim.AdamW(list(trainable.values()), lr=params.learning_rate, weight_decay=0.0)
    per_epoch = math.ceil(len(encoded) / params.batch_size)
    total = params.max_steps or per_epoch * params.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: max(0.0, 1.0 - step / total))
    order_rng = random.Random(params.seed)
    pad = tokenizer.pad_token_id

    curve: list[float] = []
    tokens = completion_tokens = step = 0
    seconds_before = 0.0
    resumed_from: list[int] = []
    order: list[int] | None = None  # this epoch's row order, and the next batch's place in it
    position = 0
    resume = checkpoints.resume if checkpoints is not None else None
    if resume is not None and checkpoints is not None:
        saved = torch.load(checkpoints.path, map_location="cpu", weights_only=True)
        with torch.no_grad():
            for name, value in saved["lora"].items():
                trainable[name].copy_(value)
        optimiser.load_state_dict(saved["optimiser"])
        schedule.load_state_dict(saved["schedule"])
        order_rng.setstate(_rng_state(saved["order_rng"]))
        torch.set_rng_state(saved["torch_rng"])
        step, order, position = int(saved["step"]), list(saved["order"]), int(saved["position"])
        curve = list(resume["loss_curve"])[:step]
        tokens, completion_tokens = int(resume["tokens"]), int(resume["completion_tokens"])
        seconds_before = float(resume["seconds"])
        resumed_from = [*resume.get("resumed_from", []), step]
    cancelled = False
    started = last_saved = time.perf_counter()
    saved_step = step

    def save() -> None:
        nonlocal last_saved, saved_step
        assert checkpoints is not None
        state = {
            "lora": {n: p.detach().cpu() for n, p in trainable.items()},
            "optimiser": optimiser.state_dict(),
            "schedule": schedule.state_dict(),
            "order_rng": _flatten(order_rng.getstate()),
            "torch_rng": torch.get_rng_state(),
            "step": step,
            "order": order or [],
            "position": position,
        }
        write_private(checkpoints.path, lambda tmp: torch.save(state, tmp))
        last_saved, saved_step = time.perf_counter(), step
        if checkpoints.on_save is not None:
            checkpoints.on_save(
                {
                    "step": step,
                    "total_steps": total,
                    "loss_curve": list(curve),
                    "tokens": tokens,
                    "completion_tokens": completion_tokens,
                    "seconds": round(seconds_before + last_saved - started, 3),
                    "resumed_from": resumed_from,
                    "file": checkpoints.path.name,
                    "sha256": file_sha256(checkpoints.path),
                    "fingerprint": checkpoints.fingerprint,
                }
            )

    while step < total:
        if order is None or position >= len(order):
            order = list(range(len(encoded)))
            order_rng.shuffle(order)
            position = 0
        if should_stop is not None and should_stop():
            cancelled = True
            break
        batch = [encoded[i] for i in order[position : position + params.batch_size]]
        position += params.batch_size
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (ids, lab) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, : len(lab)] = torch.tensor(lab)
            mask[i, : len(ids)] = 1
        out = tuned(input_ids=input_ids.to(device), attention_mask=mask.to(device), labels=labels.to(device))
        out.loss.backward()
        optimiser.step()
        schedule.step()
        optimiser.zero_grad(set_to_none=True)
        step += 1
        tokens += int(mask.sum())
        completion_tokens += int((labels[:, 1:] != IGNORE).sum())
        loss = float(out.loss.detach())
        if not math.isfinite(loss):  # a diverged adapter is useless, and NaN is not JSON for the ledger
            raise InvalidRequest(
                f"training diverged at step {step} (loss {loss}); lower learning_rate", param="learning_rate"
            )
        curve.append(round(loss, 5))
        if (
            checkpoints is not None
            and step < total
            and time.perf_counter() - last_saved >= checkpoints.every_seconds
        ):
            save()
        if on_step is not None:
            on_step(step, total, loss)
    if cancelled and checkpoints is not None and step > saved_step:
        save()  # a cancelled run resumes exactly where it stopped
    seconds = seconds_before + time.perf_counter() - started
    tuned.eval()
    return {
        "pairs": adapter_pairs(tuned),
        "loss_curve": curve,
        "steps": step,
        "total_steps": total,
        "rows_used": len(encoded),
        "rows_skipped": skipped,
        "tokens": tokens,
        "completion_tokens": completion_tokens,
        "seconds": seconds,
        "device": device if device == "cpu" else f"{device}:{torch.cuda.get_device_name(0)}",
        "cancelled": cancelled,
        "resumed_from": resumed_from,
    }


def _flatten(state: tuple[Any, ...]) -> list[int]:
    """random.Random's state (version, 625 ints, gauss) as plain ints, for a weights-only checkpoint
    (shuffling never draws a gauss, so that part is always None)."""
    version, internal, _gauss = state
    return [int(version), *internal]


def _rng_state(flat: list[int]) -> tuple[Any, ...]:
    return (int(flat[0]), tuple(int(x) for x in flat[1:]), None)


def adapter_pairs(tuned: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{module name: (A, B)} of a PEFT model's LoRA layers, as float32 arrays."""
    from peft.tuners.lora import LoraLayer

    pairs = {}
    for name, module in tuned.named_modules():
        if isinstance(module, LoraLayer) and "default" in module.lora_A:
            a = module.lora_A["default"].weight.detach().float().cpu().numpy()
            b = module.lora_B["default"].weight.detach().float().cpu().numpy()
            pairs[name.removeprefix("base_model.model.")] = (a, b)
    return pairs


def forward_tokens_per_second(model: Any, tokenizer: Any, rows: list[TrainingRow], batch_size: int) -> float:
    """Forward-only throughput on the same rows: the bench's baseline for training speed."""
    import torch

    encoded = [encode(tokenizer, r)[0] for r in rows]
    tokens, started = 0, time.perf_counter()
    with torch.no_grad():
        for first in range(0, len(encoded), batch_size):
            batch = encoded[first : first + batch_size]
            width = max(len(ids) for ids in batch)
            input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, ids in enumerate(batch):
                input_ids[i, : len(ids)] = torch.tensor(ids)
                mask[i, : len(ids)] = 1
            model(input_ids=input_ids, attention_mask=mask)
            tokens += int(mask.sum())
    return tokens / (time.perf_counter() - started)


__all__ = [
    "TrainResult",
    "adapter_pairs",
    "encode",
    "forward_tokens_per_second",
    "load_base",
    "messages_of",
    "prompt_ids",
    "resolve_device",
    "train",
]
