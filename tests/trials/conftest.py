"""Fixtures for trials: a stub upstream process and a tiny suite whose right answers are known."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from finsandbox.testing import processes

SUITE = """\
name: tiny
theme: customer_service
recipes:
  - name: echo
    principles: [reliability_accuracy, transparency_disclosure]
    target:
      system_prompt: "Answer briefly."
    scorers:
      - name: contains
    cases:
{cases}
  - name: noisy
    principles: [robustness_security]
    scorers:
      - name: contains
    attacks:
      - name: noise
    cases:
      - id: n1
        input: "what is the annual fee"
        expected: {{contains: "echo"}}
"""


def case_lines(n: int) -> str:
    """n cases; even ones pass (the stub echoes the question back), odd ones fail."""
    out = []
    for i in range(n):
        want = f"question {i}" if i % 2 == 0 else "never-said"
        out.append(
            f'      - id: c{i}\n        input: "question {i}"\n        expected: {{contains: "{want}"}}'
        )
    return "\n".join(out)


def write_suite(folder: Path, n: int = 6) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(SUITE.format(cases=case_lines(n)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def upstream() -> Iterator[processes.Process]:
    with processes.upstream() as up:
        yield up


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[processes.Process]:
    with processes.upstream(delay_ms=300) as up:
        yield up
