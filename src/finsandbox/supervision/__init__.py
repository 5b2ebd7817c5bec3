"""Supervision: the regulator's framework, scorecards, reviews, signed exit bundles and cohort insights."""

from finsandbox.supervision.framework import Framework, LoadedFramework, coverage, load_framework
from finsandbox.supervision.scorecards import build_scorecard, compare, compare_trials, get_scorecard, wilson

__all__ = [
    "Framework",
    "LoadedFramework",
    "build_scorecard",
    "compare",
    "compare_trials",
    "coverage",
    "get_scorecard",
    "load_framework",
    "wilson",
]
