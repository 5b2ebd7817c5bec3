"""LoRA adapters as GGUF files that llama.cpp loads beside the base model (`lora_path`).

llama.cpp applies an adapter tensor pair to the base tensor of the same name:
y = W x + scale * (alpha / r) * B (A x), with `blk.N.attn_q.weight.lora_a` of shape (r, in) and
`...lora_b` of shape (out, r), as PyTorch writes them (GGUF lists dimensions the other way round).
The conversion of a llama model to GGUF reorders the rows of the query and key projections (the
two rotary halves of each head are interleaved for llama.cpp's RoPE); the training here runs on
the model as PyTorch lays it out, so B of q_proj and k_proj gets the same row reordering, and A,
which acts on the input side, none. tests/finetune checks the result against PyTorch's logits.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from finsandbox.errors import InvalidRequest
from finsandbox.finetune.params import TARGET_MODULES

_NAME = re.compile(r"(?:^|\.)layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)$")


def permute_rows(weight: np.ndarray, n_head: int) -> np.ndarray:
    """The row order llama.cpp expects for a query/key projection with `n_head` heads (of that tensor)."""
    out = weight.shape[0]
    return (
        weight.reshape(n_head, 2, out // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def gguf_tensor_name(module: str) -> str:
    """`model.layers.3.self_attn.q_proj` -> `blk.3.attn_q.weight`."""
    match = _NAME.search(module)
    if match is None or match.group(2) not in TARGET_MODULES:
        raise ValueError(f"no llama.cpp tensor for module {module!r}")
    return f"blk.{match.group(1)}.{TARGET_MODULES[match.group(2)]}.weight"


def write_adapter(
    path: Path,
    pairs: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    alpha: float,
    n_head: int,
    n_head_kv: int,
    name: str,
) -> None:
    """Write {module name: (A, B)} as a llama.cpp LoRA adapter, B of q/k reordered for its RoPE."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    writer.add_name(name)
    for module in sorted(pairs, key=_order):
        a, b = pairs[module]
        kind = module.rsplit(".", 1)[-1]
        if kind == "q_proj":
            b = permute_rows(b, n_head)
        elif kind == "k_proj":
            b = permute_rows(b, n_head_kv)
        base = gguf_tensor_name(module)
        writer.add_tensor(f"{base}.lora_a", np.ascontiguousarray(a, dtype=np.float32))
        writer.add_tensor(f"{base}.lora_b", np.ascontiguousarray(b, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _order(module: str) -> tuple[int, str]:
    match = _NAME.search(module)
    return (int(match.group(1)), match.group(2)) if match else (-1, module)


def read_metadata(path: Path) -> dict[str, Any]:
    """The fields of a GGUF file's header that fine-tuning needs (architecture, heads, type)."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"{path.name} is not a readable GGUF file: {exc}", param="base") from None

    def field(key: str) -> Any:
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    arch = field("general.architecture")
    return {
        "architecture": arch,
        "type": field("general.type") or "model",
        "n_head": field(f"{arch}.attention.head_count"),
        "n_head_kv": field(f"{arch}.attention.head_count_kv") or field(f"{arch}.attention.head_count"),
        "n_layer": field(f"{arch}.block_count"),
        "tensors": len(reader.tensors),
    }


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


__all__ = ["file_sha256", "gguf_tensor_name", "permute_rows", "read_metadata", "write_adapter"]
