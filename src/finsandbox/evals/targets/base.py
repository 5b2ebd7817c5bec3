"""The target contract: run one case, return the answer and the evidence of how it was made."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from finsandbox import registry
from finsandbox.evals.client import GatewayClient
from finsandbox.evals.model import Case, Recipe
from finsandbox.evals.scorers.base import Evidence


@dataclass
class RunSettings:
    """Generation settings a trial applies to every call it makes."""

    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0


class TargetSpec(Protocol):
    """What a target may read from a trial's run spec (finsandbox.evals.worker.RunSpec)."""

    workspace: str
    endpoint: str
    external_url: str | None
    gateway_url: str | None


@dataclass
class TargetOutput:
    text: str
    evidence: Evidence = field(default_factory=Evidence)
    extra: dict[str, Any] = field(default_factory=dict)
    # The gateway's model-view annotation of the call (the model's own text, held in memory
    # only, and canary facts); None where the runner cannot see the call (external apps).
    model_view: dict[str, Any] | None = field(default=None, repr=False)


class Target(ABC):
    kind: ClassVar[str]
    # True when the app under test calls the gateway itself: the call records (guard decisions,
    # model view) are then read back from the gateway's usage records.
    evidence_from_gateway: ClassVar[bool] = False

    @classmethod
    def from_spec(cls, spec: TargetSpec) -> Target:
        """Build the target for one trial run; override to read the settings it needs."""
        return cls()

    @abstractmethod
    async def run(
        self, case: Case, recipe: Recipe, client: GatewayClient, settings: RunSettings, case_key: str
    ) -> TargetOutput: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


target = registry.targets.register
"""Class decorator: register a target kind under its name."""
