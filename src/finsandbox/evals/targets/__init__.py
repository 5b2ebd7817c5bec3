"""Targets: what a trial tests (a workspace endpoint with an app template, or an external app)."""

from finsandbox.evals.targets.base import RunSettings, Target, TargetOutput, TargetSpec, target
from finsandbox.evals.targets.external import ExternalTarget, TargetUnreachable
from finsandbox.evals.targets.template import EndpointTarget, build_messages, retrieve

__all__ = [
    "EndpointTarget",
    "ExternalTarget",
    "RunSettings",
    "Target",
    "TargetOutput",
    "TargetSpec",
    "TargetUnreachable",
    "build_messages",
    "retrieve",
    "target",
]
