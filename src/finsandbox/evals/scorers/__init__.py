"""Scorers, one file each, resolved by name through `get_scorer`."""

from finsandbox.evals.scorers.base import (
    Evidence,
    Judge,
    JudgeError,
    Score,
    Scorer,
    ScorerSettings,
    get_scorer,
    scorer,
    scorer_class,
    scorer_names,
)

__all__ = [
    "Evidence",
    "Judge",
    "JudgeError",
    "Score",
    "Scorer",
    "ScorerSettings",
    "get_scorer",
    "scorer",
    "scorer_class",
    "scorer_names",
]
