"""Guarding a streamed reply: only text that has passed the output guards ever leaves, and it
leaves as soon as the guards can vouch for it.

Each window guard declares its look-ahead (`Guard.lookahead`, or `Guard.holdback` when the need
depends on the text): a few words for most, a sentence for some. After each delta the text
before the largest hold-back (cut at a word boundary) is released, after:

1. the held text, with up to `behind` characters of already released text before it as left
   context, passes the window guards (so a block anywhere, even in the held-back words, stops
   the stream before more text leaves), and
2. where a guard redacted something, the released part redacted on its own agrees with the whole
   redacted: if they differ, an entity straddles the cut, so nothing is released until it does not.

Because a finding up to the look-ahead's length that starts in released text is always whole in
the text checked when it was released, no part of it leaves before it is caught. Guards with
`stream_scope == "final"` (disclosure, investment disclaimers) see the whole reply at `finish`
and may only append to it. A `structured` reply (one asked for as JSON) is held until it is
complete, then its strings pass the window guards, so a mask keeps it parsing (as
`Pipeline.check_output` checks such a reply). A block raises GuardBlocked and every later call
raises it again; the gateway ends the stream with an error event.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from finsandbox.guards.base import Action, Decision, GuardContext
from finsandbox.guards.errors import GuardBlocked
from finsandbox.guards.text import map_json_strings

if TYPE_CHECKING:
    from finsandbox.guards.steps import Step, StepRunner

_WORD_START = re.compile(r"(?:^|(?<=\s))\S")


class StreamGuard:
    def __init__(self, pipeline: StepRunner, context: GuardContext, structured: bool = False) -> None:
        self._pipeline = pipeline
        self._context = context
        limits = pipeline.policy.limits
        self._window = limits.stream_window_chars
        self._extra = limits.stream_holdback_chars
        self._window_steps: list[Step] = [
            s for s in pipeline.output_steps if s.guard.stream_scope == "window"
        ]
        self._final_steps: list[Step] = [s for s in pipeline.output_steps if s.guard.stream_scope == "final"]
        # A guard that needs the whole reply (the checker) holds everything until `finish`.
        self._hold_all = structured or any(s.guard.holds_stream for s in pipeline.output_steps)
        self._structured = structured
        self._behind = max((s.guard.lookahead.behind for s in self._window_steps), default=0)
        self._buffer = ""  # received, not yet released
        self._margin = ""  # the end of the released raw text: left context for the next check
        self._released: list[str] = []
        self._chunks = 0
        self._error: Exception | None = None
        self._finished = False
        self.decisions: list[Decision] = []

    @property
    def released_text(self) -> str:
        """Everything released so far (already guarded): what the ledger records as the completion."""
        return "".join(self._released)

    def ready(self, delta: str) -> bool:
        """Whether feeding `delta` could release text (cheap; lets a caller skip a thread hop)."""
        return self._error is not None or self._cut_point(self._buffer + (delta or "")) > 0

    def feed(self, delta: str) -> str:
        """Add a delta; return the text now safe to send (often "")."""
        self._raise_if_failed()
        if self._finished:
            raise RuntimeError("stream already finished")
        self._buffer += delta or ""
        cut = self._cut_point(self._buffer)
        if cut <= 0:
            return ""
        return self._guarded(lambda: self._release(cut))

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

    def _cut_point(self, buffer: str) -> int:
        """Where the releasable text ends: before every guard's hold-back, at a word start."""
        if self._hold_all:
            return 0
        keep = self._extra
        for step in self._window_steps:
            try:
                keep = max(keep, step.guard.holdback(buffer, self._context, self._window))
            except Exception:  # fail closed: a guard that cannot say holds everything back
                return 0
        limit = len(buffer) - keep
        if limit <= 0:
            return 0
        # The start of the word the limit falls in (or that starts at the limit) ends the release.
        if limit < len(buffer) and not buffer[limit - 1].isspace() and not buffer[limit].isspace():
            starts = [m.start() for m in _WORD_START.finditer(buffer, 0, limit)]
            return starts[-1] if starts else 0
        return limit

    def _check(self, text: str, context: GuardContext) -> tuple[str, list[Decision]]:
        """The text after the window guards' redactions; raises GuardBlocked on a block."""
        location = f"stream[{self._chunks}]"
        new, decisions, blocked = self._pipeline._run_chain(self._window_steps, text, context, location)
        if blocked:
            self.decisions.extend(decisions)
            raise GuardBlocked(decisions[-1], "output")
        return new, decisions

    def _release(self, cut: int) -> str:
        margin, head = self._margin, self._buffer[:cut]
        whole, decisions = self._check(margin + self._buffer, self._scratch())
        if all(d.action is Action.ALLOW for d in decisions):
            out = head  # nothing anywhere needs changing: the head goes as it is
        else:
            seen, _ = self._check(margin, self._scratch()) if margin else ("", [])
            trial = self._scratch()
            prefix, decisions = self._check(margin + head, trial)
            if not (prefix.startswith(seen) and whole.startswith(prefix)):
                return ""  # an entity straddles the cut; wait until it lies wholly in the head
            out = prefix[len(seen) :]
            if out != head:
                self.decisions.extend(decisions)
            self._adopt(trial)
        self._buffer = self._buffer[cut:]
        self._margin = _tail(margin + head, self._behind)
        self._chunks += 1
        self._released.append(out)
        return out

    def _flush(self) -> str:
        rest = ""
        if self._buffer and self._structured:  # held whole (nothing released, no left context)
            rest = map_json_strings(self._buffer, self._check_strings)
            self._buffer = ""
        elif self._buffer:
            rest, decisions = self._check(self._margin + self._buffer, self._context)
            if self._margin:
                seen, _ = self._check(self._margin, self._scratch())
                if rest.startswith(seen):
                    rest = rest[len(seen) :]
                else:  # the left context reads differently now: check the rest on its own
                    rest, decisions = self._check(self._buffer, self._context)
            self.decisions.extend(decisions)
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

    def _check_strings(self, strings: list[str]) -> list[str]:
        """The strings of a structured reply through the window guards (as the pipeline checks
        them, see `Pipeline.check_output`); raises GuardBlocked on a block."""
        found: list[Decision] = []
        try:
            new = self._pipeline._check_strings(self._window_steps, strings, self._context, "output", found)
        finally:
            self.decisions.extend(found)
        return new

    def _scratch(self) -> GuardContext:
        return replace(self._context, conversation=self._context.conversation.copy())

    def _adopt(self, trial: GuardContext) -> None:
        """Keep the placeholders the released prefix allocated (they are now in the client's hands)."""
        self._context.conversation.adopt(trial.conversation)


def _tail(text: str, size: int) -> str:
    """The last `size` characters or more of `text`, starting at a word."""
    if size <= 0 or not text:
        return ""
    if len(text) <= size:
        return text
    starts = [m.start() for m in _WORD_START.finditer(text, 0, len(text) - size + 1)]
    return text[starts[-1] :] if starts else text
