"""Train the injection classifier's weights from `data/train.jsonl.gz` (never the evaluation set).

    python bench/injection/train.py [--bits 18] [--l2 1.0] [--out PATH]

L2-regularised logistic regression over the runtime's own features (`finsandbox.guards.
injection_model`: hashed word and character n-grams plus the pattern guard's signals), fitted with
SciPy's L-BFGS, classes weighted to balance. A fixed seed holds out 20% of the training rows; the
threshold is the lowest one from 0.5 (even odds under balanced classes) up whose precision there is
at least 0.99, so recall is as high as that precision allows. Then the model is fitted on all rows
and written with that threshold (default: src/finsandbox/guards/injection_model.npz). Needs numpy
and scipy (the `dev` extra); the same data and seed give the same weights.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path

import numpy as np
from scipy import optimize, sparse

from finsandbox.guards.injection import InjectionGuard
from finsandbox.guards.injection_model import PATTERN_FEATURES, first_window, hashed_features, pattern_vector

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SEED = 12


def load(path: Path) -> list[dict[str, object]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def featurise(rows: list[dict[str, object]], bits: int) -> sparse.csr_matrix:
    guard = InjectionGuard()
    data: list[float] = []
    indices: list[int] = []
    indptr = [0]
    for r in rows:
        text = first_window(str(r["text"]))
        ids = np.sort(hashed_features(text, bits, folded=True))
        patterns = pattern_vector(guard.signals(text, retrieved=r.get("kind") == "document"))
        scale = 1.0 / np.sqrt(max(ids.size, 1))
        indices.extend(ids.tolist())
        data.extend([scale] * ids.size)
        nonzero = np.flatnonzero(patterns)
        indices.extend(((1 << bits) + nonzero).tolist())
        data.extend(patterns[nonzero].tolist())
        indptr.append(len(indices))
    width = (1 << bits) + len(PATTERN_FEATURES)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), width), dtype=np.float64)


def fit(x: sparse.csr_matrix, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    positives = y.sum()
    weight = np.where(y == 1, len(y) / (2 * positives), len(y) / (2 * (len(y) - positives)))
    sign = 2 * y - 1

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        margin = sign * (x @ w + b)
        value = float(weight @ np.logaddexp(0, -margin)) + 0.5 * l2 * float(w @ w)
        grad_margin = -weight * sign / (1 + np.exp(margin))
        grad = np.empty_like(params)
        grad[:-1] = x.T @ grad_margin + l2 * w
        grad[-1] = grad_margin.sum()
        return value, grad

    result = optimize.minimize(
        loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500}
    )
    return result.x[:-1], float(result.x[-1])


def choose_threshold(scores: np.ndarray, y: np.ndarray, min_precision: float = 0.99) -> float:
    """The lowest threshold from 0.5 up whose precision on held-out rows reaches `min_precision`."""
    for threshold in np.round(np.arange(0.5, 0.951, 0.01), 2):
        predicted = scores >= threshold
        tp = int((predicted & (y == 1)).sum())
        fp = int((predicted & (y == 0)).sum())
        if tp and tp / (tp + fp) >= min_precision:
            return float(threshold)
    return 0.95


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bits", type=int, default=18)
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "src" / "finsandbox" / "guards" / "injection_model.npz"
    )
    args = parser.parse_args()

    rows = load(HERE / "data" / "train.jsonl.gz")
    y = np.array([int(r["label"]) for r in rows])  # type: ignore[call-overload]
    x = featurise(rows, args.bits)
    order = list(range(len(rows)))
    random.Random(SEED).shuffle(order)
    held = np.zeros(len(rows), dtype=bool)
    held[order[: len(rows) // 5]] = True
    w, b = fit(x[~held], y[~held], args.l2)
    scores = 1 / (1 + np.exp(-(x[held] @ w + b)))
    threshold = choose_threshold(scores, y[held])
    predicted = scores >= threshold
    tp = int((predicted & (y[held] == 1)).sum())
    fp = int((predicted & (y[held] == 0)).sum())
    fn = int((~predicted & (y[held] == 1)).sum())
    print(f"held-out training rows: {held.sum()}, threshold {threshold:.2f}: tp {tp} fp {fp} fn {fn}")

    w, b = fit(x, y, args.l2)
    bits = args.bits
    metadata = {
        "bits": bits,
        "threshold": threshold,
        "pattern_features": list(PATTERN_FEATURES),
        "trained_rows": len(rows),
        "trained_attacks": int(y.sum()),
        "l2": args.l2,
        "seed": SEED,
        "data": "bench/injection/data/train.jsonl.gz (see bench/injection/PROVENANCE.md)",
    }
    np.savez_compressed(
        args.out,
        weights=w[: 1 << bits].astype(np.float16),
        pattern_weights=w[1 << bits :].astype(np.float32),
        bias=np.float32(b),
        metadata=np.array(json.dumps(metadata, sort_keys=True)),
    )
    top = {name: round(float(v), 2) for name, v in zip(PATTERN_FEATURES, w[1 << bits :], strict=True)}
    print(f"wrote {args.out.name} ({args.out.stat().st_size / 1024:.0f} KiB); pattern weights {top}")


if __name__ == "__main__":
    main()
