"""Retrieval over a recipe's corpus, in heading-sized chunks with stable ids (`file#section`) so
groundedness scorers can check that cited sources exist.

Two methods: `bm25` (rank-bm25, lexical) and `embedding` (all-MiniLM-L6-v2 run offline in NumPy,
see embeddings.py; cosine similarity). Each index is built once per corpus per process.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finsandbox.errors import ConfigError

_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
_STOP = frozenset(
    "a an the of to in and or for on at by is are be with what how do does i my me you your".split()  # noqa: SIM905
)


def _stem(word: str) -> str:
    """A light fold of plurals and verb forms ("prepayment" -> "prepay"), enough for BM25."""
    if word[0].isdigit() or len(word) <= 4:
        return word
    for suffix in ("ment", "ing", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def tokens(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP]


@dataclass(frozen=True)
class Chunk:
    id: str
    title: str
    text: str


def _chunks(path: Path) -> list[Chunk]:
    text = path.read_text(encoding="utf-8")
    out: list[Chunk] = []
    title, lines = path.stem, []
    n = 0

    def flush() -> None:
        nonlocal n
        body = "\n".join(lines).strip()
        if body:
            n += 1
            out.append(Chunk(id=f"{path.stem}#{n}", title=title, text=f"{title}\n{body}" if title else body))

    for line in text.splitlines():
        if line.startswith("#"):
            flush()
            lines = []
            title = line.lstrip("#").strip()
        else:
            lines.append(line)
    flush()
    return out


def _indexed(chunk: Chunk, doc_titles: dict[str, str]) -> str:
    doc = chunk.id.split("#")[0]
    return f"{doc.replace('_', ' ')} {doc_titles.get(doc, '')} {chunk.text}"


def _doc_title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


class Corpus:
    """An in-memory BM25 index of every .md and .txt file under a folder."""

    def __init__(self, root: Path) -> None:
        from rank_bm25 import BM25Okapi

        if not root.exists():
            raise ConfigError(f"retrieval corpus {root} does not exist")
        candidates = [root] if root.is_file() else root.rglob("*")
        files = sorted(p for p in candidates if p.suffix in (".md", ".txt"))
        self.chunks = [c for f in files for c in _chunks(f)]
        if not self.chunks:
            raise ConfigError(f"retrieval corpus {root} holds no .md or .txt text")
        # A section is indexed with its document's name and title: "What is the loan amount range
        # for the personal loan?" must find a section of personal_loan.md titled "Amounts".
        doc_titles = {f.stem: _doc_title(f) for f in files}
        self._bm25 = BM25Okapi([tokens(_indexed(c, doc_titles)) or ["_"] for c in self.chunks])

        self._vectors: Any = None
        self._vectors_lock = threading.Lock()

    def search(self, query: str, k: int, method: str = "bm25") -> list[Chunk]:
        if method == "embedding":
            return self._search_embedding(query, k)
        if method != "bm25":
            raise ConfigError(f"unknown retrieval method {method!r}; use bm25 or embedding")
        q = tokens(query)
        if not q:
            return self.chunks[:k]
        scores = self._bm25.get_scores(q)
        ranked = sorted(range(len(self.chunks)), key=lambda i: (-scores[i], i))
        return [self.chunks[i] for i in ranked[:k]]

    def _search_embedding(self, query: str, k: int) -> list[Chunk]:
        from finsandbox.evals.embeddings import model

        encoder = model()
        with self._vectors_lock:
            if self._vectors is None:
                self._vectors = encoder.encode([c.text for c in self.chunks])
        scores = self._vectors @ encoder.encode([query])[0]
        ranked = sorted(range(len(self.chunks)), key=lambda i: (-float(scores[i]), i))
        return [self.chunks[i] for i in ranked[:k]]


_cache: dict[Path, Corpus] = {}
_lock = threading.Lock()


def corpus(root: Path) -> Corpus:
    """One index per corpus folder per process."""
    root = root.resolve()
    with _lock:
        if root not in _cache:
            _cache[root] = Corpus(root)
        return _cache[root]
