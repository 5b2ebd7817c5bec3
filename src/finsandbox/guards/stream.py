"""Guarding a streamed reply: only text that has passed the output guards ever leaves.

Deltas are buffered. Once the buffer holds a window plus a hold-back, everything up to a cut point
(a sentence end, else a space, at least `holdback` characters before the end) is released, after:

1. the whole buffer passes the window guards (so a block anywhere, even in the hold-back, stops the
   stream before more text leaves), and
2. the released prefix, redacted on its own, agrees with the whole buffer redacted: if they differ,
   something (a card number, an email) straddles the cut, so nothing is released until it does not.

Guards with `stream_scope == "final"` (disclosure, investment disclaimers) see the whole reply at
`finish` and may only append to it. A block raises GuardBlocked and every later call raises it again;
the gateway ends the stream with an error event.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from finsandbox.guards.base import Action, Decision, GuardContext
from finsandbox.guards.errors import GuardBlocked

if TYPE_CHECKING:
    from finsandbox.guards.pipeline import Pipeline, _Step

_SENTENCE_END = re.compile(r"[.!?。！？]\s|\n")
_SPACE = re.compile(r"\s")


class StreamGuard:
    def __init__(self, pipeline: Pipeline, context: GuardContext) -> None:
        self._pipeline = pipeline
        self._context = context
        limits = pipeline.policy.limits
        self._window = limits.stream_window_chars
        self._holdback = limits.stream_holdback_chars
        self._window_steps: list[_Step] = [
            s for s in pipeline.output_steps if s.guard.stream_scope == "window"
        ]
        self._final_steps: list[_Step] = [s for s in pipeline.output_steps if s.guard.stream_scope == "final"]
        self._buffer = ""
        self._released: list[str] = []
        self._chunks = 0
        self._error: Exception | None = None
        self._finished = False
        self.decisions: list[Decision] = []

    @property
    def released_text(self) -> str:
        """Everything released so far (already guarded): what the ledger records as the completion."""
        return "".join(self._released)

    def feed(self, delta: str) -> str:
        """Add a delta; return the text now safe to send (often "")."""
        self._raise_if_failed()
        if self._finished:
            raise RuntimeError("stream already finished")
        self._buffer += delta or ""
        if len(self._buffer) < self._window + self._holdback:
            return ""
        return self._guarded(self._release)

    def finish(self) -> str:
        """Check and return the rest of the reply, plus anything a final-scope guard appends."""
        self._raise_if_failed()
        if self._finished:
            return ""
        self._finished = True
        return self._guarded(self._flush)

    # -- internals -------------------------------------------------------------------------------

    def _guarded(self, action: Callable[[], str]) -> str:
        try:
            return action()
        except Exception as exc:
            self._error = exc
            self._buffer = ""
            raise

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _check(self, text: str, context: GuardContext, *, commit: bool) -> tuple[str, list[Decision]]:
        location = f"stream[{self._chunks}]"
        new, decisions, blocked = self._pipeline._run_chain(self._window_steps, text, context, location)
        if blocked:
            self.decisions.extend(decisions)
            raise GuardBlocked(decisions[-1], "output")
        if commit:
            self.decisions.extend(decisions)
        return new, decisions

    def _release(self) -> str:
        cut = self._cut_point()
        if cut <= 0:
            return ""
        whole, _ = self._check(self._buffer, self._scratch(), commit=False)
        trial = self._scratch()
        prefix, decisions = self._check(self._buffer[:cut], trial, commit=False)
        if not whole.startswith(prefix):
            return ""  # an entity straddles the cut; wait until it lies wholly in the prefix
        self.decisions.extend(decisions)
        self._adopt(trial)
        self._buffer = self._buffer[cut:]
        self._chunks += 1
        self._released.append(prefix)
        return prefix

    def _flush(self) -> str:
        rest = ""
        if self._buffer:
            rest, _ = self._check(self._buffer, self._context, commit=True)
            self._buffer = ""
        so_far = self.released_text + rest
        current = so_far
        for step in self._final_steps:
            decision = self._pipeline._run_one(step, current, self._context)
            self.decisions.append(decision)
            if decision.action is Action.BLOCK:
                raise GuardBlocked(decision, "output")
            if decision.action is Action.REDACT:
                if not decision.text.startswith(current):
                    failed = Decision(
                        decision.guard, Action.BLOCK, current, "guard rewrote text already sent", 1.0
                    )
                    self.decisions.append(failed)
                    raise GuardBlocked(failed, "output")
                current = decision.text
        out = rest + current[len(so_far) :]
        self._released.append(out)
        return out

    def _cut_point(self) -> int:
        limit = len(self._buffer) - self._holdback
        if limit <= 0:
            return 0
        head = self._buffer[:limit]
        ends = [m.end() for m in _SENTENCE_END.finditer(head, max(0, limit - self._window))]
        if ends:
            return ends[-1]
        spaces = [m.end() for m in _SPACE.finditer(head, max(0, limit - self._window))]
        return spaces[-1] if spaces else limit

    def _scratch(self) -> GuardContext:
        return replace(self._context, conversation=self._context.conversation.copy())

    def _adopt(self, trial: GuardContext) -> None:
        """Keep the placeholders the released prefix allocated (they are now in the client's hands)."""
        self._context.conversation.adopt(trial.conversation)
