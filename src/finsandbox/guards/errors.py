"""The two errors the gateway maps from guards: a block (400) and an oversized input (413)."""

from __future__ import annotations

from finsandbox.errors import FinsandboxError, PayloadTooLarge
from finsandbox.guards.base import Decision


class GuardBlocked(FinsandboxError):
    """A guard blocked the request or the reply; the message names the guard and why, never the data."""

    status_code = 400
    error_type = "invalid_request_error"
    code = "guard_blocked"

    def __init__(self, decision: Decision, direction: str) -> None:
        super().__init__(
            f"{direction} blocked by guard '{decision.guard}': {decision.reason}", param=direction
        )
        self.decision = decision
        self.direction = direction


class InputTooLarge(PayloadTooLarge):
    """The input is longer than the workspace's guard policy allows (HTTP 413)."""
