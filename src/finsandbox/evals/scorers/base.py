"""The scorer contract: (case, output, evidence) -> Score, plus a corpus-level aggregate.

A scorer is deterministic unless it says `requires_judge`; its settings are a pydantic model
that forbids unknown keys, so a typo in a recipe fails at load time rather than mid-trial.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from finsandbox import registry
from finsandbox.errors import ConfigError, UpstreamError
from finsandbox.evals.model import Case


class Score(BaseModel):
    """One scorer's verdict on one case; `details` must hold no raw personal data."""

    value: float
    passed: bool
    explanation: str
    details: dict[str, Any] = {}


View = Literal["model", "system"]
VIEWS: tuple[View, ...] = ("model", "system")


@dataclass
class Evidence:
    """What the runner saw while producing the output, for scorers that judge more than text.

    `view` says which answer a scorer is judging: the model's own (before any output guard) or
    the system's (what the caller received). `output_guards` summarises what the output guards
    changed (guard, action, entity counts; never values); `canary_leaked` is the gateway's verdict
    on whether the endpoint's system-prompt canary appears in the judged text.
    """

    retrieved: list[dict[str, Any]] = field(default_factory=list)
    guard_decisions: list[dict[str, Any]] = field(default_factory=list)
    blocked: bool = False
    ledger_seqs: list[int] = field(default_factory=list)
    error: str | None = None
    latency_ms: float | None = None
    view: View = "system"
    blocked_at: str | None = None
    output_guards: list[dict[str, Any]] = field(default_factory=list)
    canary_leaked: bool | None = None
    disclosure_added: bool = False
    # A counterfactual variant whose only change (a name) the input guard masked: the model never
    # saw the protected attribute, so the system view is controlled by redaction, not measured.
    controlled_by_redaction: bool = False


@runtime_checkable
class Judge(Protocol):
    """A judge endpoint: `identity` names it (workspace/endpoint, model) in every score."""

    identity: str

    def __call__(self, messages: list[dict[str, str]]) -> str | Awaitable[str]: ...


class JudgeError(UpstreamError):
    """The judge endpoint failed or replied in a form that carries no score; never a silent pass."""

    code = "judge_error"


class ScorerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Result = tuple[Case, str, Score]


class Scorer(ABC):
    name: ClassVar[str] = ""
    Settings: ClassVar[type[ScorerSettings]] = ScorerSettings
    default_threshold: ClassVar[float] = 1.0
    requires_judge: ClassVar[bool] = False
    # Expected keys a case must carry for this scorer to apply to it.
    required_expected: ClassVar[tuple[str, ...]] = ()
    # The framework principles this check evidences unless the suite says otherwise.
    principles: ClassVar[tuple[str, ...]] = ("reliability_accuracy",)
    # The views the check means something in: a test of the guards has no model view.
    views: ClassVar[tuple[View, ...]] = VIEWS

    def __init__(
        self,
        settings: ScorerSettings | Mapping[str, Any] | None = None,
        *,
        threshold: float | None = None,
        judge: Judge | None = None,
    ) -> None:
        if settings is None or isinstance(settings, Mapping):
            settings = self.Settings.model_validate(dict(settings or {}))
        self.settings = settings
        self.threshold = self.default_threshold if threshold is None else float(threshold)
        self.judge = judge

    def problem(self, case: Case) -> str | None:
        """Why this scorer cannot score the case (a missing expectation), or None."""
        for key in self.required_expected:
            if case.expected.get(key) is None:
                return f"expected.{key} is missing (needed by scorer '{self.name}')"
        return None

    def applies_to(self, case: Case) -> bool:
        return self.problem(case) is None

    @abstractmethod
    def score(self, case: Case, output: str, evidence: Evidence) -> Score: ...

    def reconstruct(self, case: Case, evidence: Evidence) -> Score | None:
        """The model-view verdict from the output guards' decisions alone, where the model's own
        text is not available (an external app's calls); None when the decisions say nothing."""
        return None

    async def ascore(self, case: Case, output: str, evidence: Evidence) -> Score:
        """The runner's entry point; scorers that call out (the judge) override it."""
        return self.score(case, output, evidence)

    def aggregate(self, results: list[Result]) -> dict[str, Any]:
        """Corpus-level metrics; the default is the mean value and the pass rate."""
        n = len(results)
        if n == 0:
            return {"n": 0, "mean": None, "pass_rate": None}
        return {
            "n": n,
            "mean": sum(s.value for _, _, s in results) / n,
            "pass_rate": sum(1 for _, _, s in results if s.passed) / n,
        }

    def result(self, value: float, explanation: str, **details: Any) -> Score:
        return Score(value=value, passed=value >= self.threshold, explanation=explanation, details=details)


scorer = registry.scorers.register


def scorer_names() -> list[str]:
    """Every scorer a suite may name, built-ins and plugins."""
    return registry.scorers.names()


def scorer_class(name: str) -> type[Scorer]:
    cls: type[Scorer] = registry.scorers.get(name)
    return cls


def settings_errors(model: type[BaseModel], settings: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Validation problems as (location inside settings, message) pairs."""
    try:
        model.model_validate(dict(settings))
    except ValidationError as exc:
        return [(tuple(e["loc"]), clean_message(e["msg"])) for e in exc.errors()]
    return []


def clean_message(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def get_scorer(
    name: str,
    settings: Mapping[str, Any] | None = None,
    *,
    threshold: float | None = None,
    judge: Judge | None = None,
) -> Scorer:
    """Build a scorer by name; unknown names, bad settings or a missing judge are ConfigErrors."""
    cls = scorer_class(name)
    problems = settings_errors(cls.Settings, settings or {})
    if problems:
        loc, msg = problems[0]
        where = ".".join(str(p) for p in loc)
        raise ConfigError(f"scorer '{name}' settings{'.' + where if where else ''}: {msg}")
    return cls(settings, threshold=threshold, judge=judge)
