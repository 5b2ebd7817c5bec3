"""Evaluations: suites -> recipes -> cases, scored by scorers, stressed by attacks.

The runner (trials, executors, targets) builds on these names.
"""

from finsandbox.evals.attacks.base import Attack, attack, attack_names, get_attack
from finsandbox.evals.loader import (
    BoundRecipe,
    BoundScorer,
    bind_recipe,
    check_cases,
    load_cases,
    load_recipe_cases,
    load_suite,
)
from finsandbox.evals.model import (
    AttackSpec,
    Case,
    ContextDoc,
    Message,
    Recipe,
    Retrieval,
    ScorerSpec,
    Suite,
    TargetTemplate,
)
from finsandbox.evals.scorers.base import (
    Evidence,
    Judge,
    JudgeError,
    Score,
    Scorer,
    get_scorer,
    scorer,
    scorer_names,
)
from finsandbox.evals.seeds import rng_for
from finsandbox.evals.trial_config import StoredTrial, TrialConfig

__all__ = [
    "Attack",
    "AttackSpec",
    "BoundRecipe",
    "BoundScorer",
    "Case",
    "ContextDoc",
    "Evidence",
    "Judge",
    "JudgeError",
    "Message",
    "Recipe",
    "Retrieval",
    "Score",
    "Scorer",
    "ScorerSpec",
    "StoredTrial",
    "Suite",
    "TargetTemplate",
    "TrialConfig",
    "attack",
    "attack_names",
    "bind_recipe",
    "check_cases",
    "get_attack",
    "get_scorer",
    "load_cases",
    "load_recipe_cases",
    "load_suite",
    "rng_for",
    "scorer",
    "scorer_names",
]
