"""Word spans that character-level attacks may touch: whole alphabetic words, never figures or ids."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

_WORD = re.compile(r"(?<!\w)[A-Za-z]{3,}(?!\w)")


def word_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD.finditer(text)]


def perturb_words(
    text: str, rng: random.Random, rate: float, change: Callable[[str, random.Random], str]
) -> tuple[str, int]:
    """Apply `change` to about `rate` of the eligible words (at least one); returns (text, words changed)."""
    spans = word_spans(text)
    if not spans:
        return text, 0
    k = max(1, round(rate * len(spans)))
    chosen = sorted(rng.sample(spans, min(k, len(spans))))
    out: list[str] = []
    last = 0
    changed = 0
    for start, end in chosen:
        word = text[start:end]
        new = change(word, rng)
        changed += new != word
        out += [text[last:start], new]
        last = end
    out.append(text[last:])
    return "".join(out), changed
