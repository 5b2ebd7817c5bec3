"""The learned prompt-injection classifier: hashed n-grams plus pattern signals into a logistic regression.

Why this shape: it runs in NumPy on one core in about a millisecond per KB, the weights are a
single small file shipped inside the package (`injection_model.npz`, nothing downloaded), and it
generalises to paraphrases that no regex lists, because it weighs thousands of word and character
n-grams learned from real jailbreak collections. The pattern signals of `injection.py` (override
phrases, decoded payloads, invisible characters, homoglyphs) enter as extra features, so an
obfuscated attack the n-grams cannot read still moves the score.

Features of a text: it is folded (`text.fold`: NFKC, homoglyphs, invisibles, lower case); tokens
are runs of letters/digits and single other characters; word unigrams and bigrams (CRC-32) and
byte 3-5-grams of the space-joined token stream (a vectorised multiplicative hash) fall into 2**bits
buckets, present-or-absent, scaled to unit length. Long texts are scored in overlapping windows and the
highest window counts, so an instruction buried in a long document is not averaged away.

The weights are trained by `bench/injection/train.py` (fixed seed) on the data described in
`bench/injection/PROVENANCE.md`; the file records the threshold chosen on held-out training data.
"""

from __future__ import annotations

import json
import re
import zlib
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import accumulate, pairwise
from pathlib import Path

import numpy as np

from finsandbox.guards.text import fold

MODEL_FILE = "injection_model.npz"
WINDOW_CHARS = 1200
WINDOW_STEP = 600
# Pattern-signal groups used as features, in this order (the weights file records the same list).
PATTERN_FEATURES = (
    "instruction_override",
    "roleplay_jailbreak",
    "prompt_extraction",
    "delimiter_injection",
    "encoded_instruction",
    "indirect_injection",
    "exfiltration",
    "hidden_text",
    "decoded_hit",
)
_HIDDEN = ("invisible_characters", "bidi_control_characters", "tag_character_smuggling", "homoglyphs")
_SEGMENT = re.compile(r"\n+|(?<=[.!?])\s+")
MIN_SEGMENT_CHARS = 40
_PRIME = np.uint64(1_000_003)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_TOKEN = re.compile(r"[^\W_]+|[^\w\s]", re.UNICODE)
# What an n-gram's hash starts from (n), multiplied by P once per byte: n * P**n mod 2**64.
_SEEDS = {n: np.uint64(n * pow(int(_PRIME), n, 1 << 64) % (1 << 64)) for n in (3, 4, 5)}


class InjectionModelError(RuntimeError):
    """The weights file is missing or does not match this code: the guard must fail closed."""


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(fold(text))


def fold_lines(text: str) -> str:
    """`fold` line by line, so line breaks survive for splitting; tokens are the same either way."""
    return "\n".join(fold(line) for line in text.split("\n"))


def first_window(text: str) -> str:
    """What training sees of a text: its folded form, cut to one window."""
    return fold_lines(text)[:WINDOW_CHARS]


class _Hashed:
    """Every feature of a folded text, hashed once; any run of its tokens is then a cheap slice.

    Token k contributes its word id, the bigram id it starts, and the byte n-grams of the
    space-joined stream from the space before it; so the features of tokens [a, b) are exactly
    those `hashed_features` computes for " ".join(tokens[a:b]).
    """

    def __init__(self, folded: str, bits: int) -> None:
        mask = (1 << bits) - 1
        matches = list(_TOKEN.finditer(folded))
        self.starts = [m.start() for m in matches]
        toks = [m.group() for m in matches]
        crc = zlib.crc32
        self.words = np.fromiter((crc(b"w" + t.encode()) & mask for t in toks), np.uint64, len(toks))
        self.bigrams = np.fromiter(
            (crc(b"b" + f"{a} {b}".encode()) & mask for a, b in pairwise(toks)),
            np.uint64,
            max(len(toks) - 1, 0),
        )
        encoded = [t.encode() for t in toks]
        # offset[k]: byte position of the space before token k; offset[len] = the closing space
        self.offset = list(accumulate((len(e) + 1 for e in encoded), initial=0))
        stream = np.frombuffer(b" " + b" ".join(encoded) + b" ", dtype=np.uint8).astype(np.uint64)
        self.chars = _char_hashes_3_5(stream, bits)
        self.size = len(toks)

    def ids(self, a: int, b: int) -> np.ndarray:
        start, end = self.offset[a], self.offset[b] + 1  # bytes of " tok_a ... tok_b-1 "
        parts = [self.words[a:b], self.bigrams[a : max(b - 1, a)]]
        parts.extend(self.chars[n][start : max(end - n + 1, start)] for n in (3, 4, 5))
        return _sorted_unique(np.concatenate(parts)).astype(np.int64)


def _sorted_unique(ids: np.ndarray) -> np.ndarray:
    """`np.unique(ids)` for a 1-D array: the same sorted values, in fewer calls (a few microseconds
    less per chat turn). The order matters: the logit sums the weights in it."""
    ids = np.sort(ids)
    if ids.size < 2:
        return ids
    keep = np.empty(ids.size, dtype=bool)
    keep[0] = True
    np.not_equal(ids[1:], ids[:-1], out=keep[1:])
    return ids[keep]


def _char_hashes_3_5(stream: np.ndarray, bits: int) -> dict[int, np.ndarray]:
    """Hashed byte n-grams of the stream for n = 3, 4, 5, in one pass (fewer NumPy calls).

    The hash of an n-gram is n * P**n + sum(byte_k * P**(n-1-k)) modulo 2**64; the sum for n + 1
    extends the one for n by one byte (times P, plus the next byte), so the three share their
    work. Arithmetic modulo 2**64 is exact in any order, so every bucket is the one the
    definition gives, n-gram by n-gram (a test holds them equal; the weights were trained on it).
    """
    size = stream.size
    out: dict[int, np.ndarray] = {}
    shift = np.uint64(64 - bits)
    with np.errstate(over="ignore"):  # multiplicative hashing wraps around 2**64 on purpose
        acc = stream[: max(size - 1, 0)] * _PRIME + stream[1:]  # every 2-gram's sum
        for n in (3, 4, 5):
            if size < n:
                out[n] = np.zeros(0, dtype=np.uint64)
                continue
            acc = acc[: size - n + 1] * _PRIME + stream[n - 1 :]
            out[n] = ((acc + _SEEDS[n]) * _GOLDEN) >> shift
    return out


def hashed_features(text: str, bits: int, *, folded: bool = False) -> np.ndarray:
    """Sorted unique bucket ids of the text's word 1-2-grams and character (UTF-8 byte) 3-5-grams.

    `folded`: the text is already `fold`ed (folding is idempotent; this only saves the time).
    """
    hashed = _Hashed(text if folded else fold(text), bits)
    return hashed.ids(0, hashed.size)


def pattern_vector(signals: Mapping[str, float]) -> np.ndarray:
    """The pattern guard's hits (name -> weight) as the fixed-order feature vector."""
    vector = np.zeros(len(PATTERN_FEATURES), dtype=np.float32)
    for name, weight in signals.items():
        base = name.split(" via ", 1)[0]
        if base in _HIDDEN:
            slot = PATTERN_FEATURES.index("hidden_text")
        elif base in PATTERN_FEATURES:
            slot = PATTERN_FEATURES.index(base)
        else:
            continue
        vector[slot] = max(vector[slot], weight)
        if " via " in name:
            decoded = PATTERN_FEATURES.index("decoded_hit")
            vector[decoded] = max(vector[decoded], weight)
    return vector


def windows(text: str) -> Iterable[tuple[int, int]]:
    """Character spans to score: the whole text when short; else windows, and each line or sentence."""
    if len(text) <= WINDOW_CHARS:
        yield 0, len(text)
        return
    for start in range(0, len(text) - WINDOW_CHARS + WINDOW_STEP, WINDOW_STEP):
        yield start, min(start + WINDOW_CHARS, len(text))
    start = 0
    for separator in _SEGMENT.finditer(text + "\n"):
        if MIN_SEGMENT_CHARS <= separator.start() - start <= WINDOW_CHARS:
            yield start, separator.start()
        start = separator.end()


@dataclass(frozen=True)
class InjectionModel:
    """Weights over hashed buckets, then one weight per pattern feature; `threshold` from training."""

    bits: int
    weights: np.ndarray
    pattern_weights: np.ndarray
    bias: float
    threshold: float
    metadata: dict[str, object]

    def _logit(self, ids: np.ndarray, pattern_logit: float) -> float:
        if ids.size == 0:
            return self.bias + pattern_logit
        return (
            self.bias
            + float(self.weights[ids].sum(dtype=np.float64)) / float(np.sqrt(ids.size))
            + pattern_logit
        )

    def probability(
        self, text: str, signals: Mapping[str, float] | None = None, *, folded: str | None = None
    ) -> float:
        """P(injection) for the text: the highest over its windows; `signals` from the pattern guard.

        `folded`: `fold_lines(text)` where the caller has it already (the guard folds once for both).
        """
        pattern_logit = float(pattern_vector(signals or {}) @ self.pattern_weights)
        if folded is None:
            folded = fold_lines(text)
        hashed = _Hashed(folded, self.bits)  # every n-gram hashed once; windows are token ranges
        best = -np.inf
        for start, end in windows(folded):
            a = bisect_left(hashed.starts, start)
            b = bisect_left(hashed.starts, end)
            if b > a or best == -np.inf:
                best = max(best, self._logit(hashed.ids(a, b), pattern_logit))
        return float(1.0 / (1.0 + np.exp(-best)))

    @classmethod
    def load(cls, path: Path) -> InjectionModel:
        try:
            with np.load(path, allow_pickle=False) as data:
                metadata = json.loads(str(data["metadata"]))
                model = cls(
                    bits=int(metadata["bits"]),
                    weights=data["weights"].astype(np.float32),
                    pattern_weights=data["pattern_weights"].astype(np.float32),
                    bias=float(data["bias"]),
                    threshold=float(metadata["threshold"]),
                    metadata=metadata,
                )
        except (OSError, KeyError, ValueError) as exc:
            raise InjectionModelError(f"cannot load injection model {path.name}: {exc}") from exc
        if model.weights.shape != (1 << model.bits,) or tuple(metadata.get("pattern_features", ())) != (
            PATTERN_FEATURES
        ):
            raise InjectionModelError(f"injection model {path.name} does not match this version's features")
        return model


def model_path() -> Path:
    return Path(str(resources.files("finsandbox.guards").joinpath(MODEL_FILE)))


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> InjectionModel:
    """The packaged model (or one at `path`), loaded once per process."""
    return InjectionModel.load(Path(path) if path else model_path())
