"""The gateway's use of guards: one pipeline per workspace policy, one context per call.

Input guards run on the caller's messages exactly as sent (content-part arrays included)
before anything reaches a backend; output guards run on the complete reply, or on a stream
as it arrives (see guards/stream.py), before any of it reaches the caller. A block ends the
call with a `guard_blocked` error whose body lists the decisions (never the blocked data).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import anyio

from finsandbox.gateway.backends import ToolCall
from finsandbox.guards import (
    Action,
    ConversationState,
    Decision,
    GuardContext,
    ModelCaller,
    Pipeline,
    StreamGuard,
    canary_instruction,
    default_policy,
    parse_policy,
)
from finsandbox.guards.pseudonym import Restorer, restore
from finsandbox.guards.text import map_json_strings


@lru_cache(maxsize=256)
def pipeline_for(policy_text: str | None) -> Pipeline:
    """Policies are validated when a workspace saves them; this only builds (and caches) the pipeline."""
    policy = default_policy() if policy_text is None else parse_policy(policy_text, "workspace guard policy")
    return Pipeline.from_policy(policy)


def warm_up() -> None:
    """Build the default policy's pipeline and run it once now, so the first calls after start-up
    do not pay for loading the models (names, injection) and their first inference inside their
    guard timeouts."""
    pipeline = pipeline_for(None)
    context = GuardContext(conversation=ConversationState())
    pipeline.check_messages([{"role": "user", "content": "Hello, I am Peter Chan from Wan Chai."}], context)
    pipeline.check_output("Thank you, Mary Wong will call you back.", context)


@lru_cache(maxsize=256)
def probe_pipeline_for(policy_text: str | None, standing_aside: frozenset[str]) -> Pipeline:
    """The policy's pipeline without the input guards that blocked: every redaction still applies."""
    policy = default_policy() if policy_text is None else parse_policy(policy_text, "workspace guard policy")
    kept = [spec for spec in policy.input if spec.guard not in standing_aside]
    return Pipeline.from_policy(policy.model_copy(update={"input": kept}))


@dataclass
class GuardedCall:
    """The guard state of one gateway call, shared by its input and its output."""

    pipeline: Pipeline
    context: GuardContext
    decisions: list[dict[str, Any]] = field(default_factory=list)
    prompt: list[dict[str, str]] | None = None
    block: Decision | None = None  # the first blocking decision, for the error the caller gets
    _stream: StreamGuard | None = None
    _restorer: Restorer | None = None
    _pending: str = ""  # deltas received since the last check (see `feed`)
    _checked_at: float | None = None
    policy_text: str | None = None  # for the trial probe's pipeline (see `probe_input`)

    @property
    def pseudonymising(self) -> bool:
        """The policy restores the caller's values in the reply (`pii: pseudonymise`)."""
        return self.pipeline.policy.pii == "pseudonymise"

    def restore(self, text: str) -> str:
        """The guarded reply as the caller receives it: placeholders of the caller's own values
        restored under `pii: pseudonymise`; unchanged otherwise. The ledger keeps `text`."""
        return restore(text, self.context.conversation) if self.pseudonymising else text

    @classmethod
    def start(
        cls,
        policy_text: str | None,
        *,
        workspace_id: str,
        endpoint: str,
        customer_facing: bool,
        canary: str | None,
        model_caller: ModelCaller | None = None,
    ) -> GuardedCall:
        context = GuardContext(
            direction="input",
            workspace_id=workspace_id,
            endpoint=endpoint,
            customer_facing=customer_facing,
            canary=canary,
            conversation=ConversationState(),
            model_caller=model_caller,
        )
        return cls(pipeline_for(policy_text), context, policy_text=policy_text)

    def _keep(self, decisions: list[Decision]) -> None:
        # Allows are left out, except a guard's own record of a check (the checker's verdict).
        self.decisions.extend(
            d.public() for d in decisions if d.action is not Action.ALLOW or d.details is not None
        )
        if self.block is None:
            self.block = next((d for d in decisions if d.action is Action.BLOCK), None)

    async def check_input(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The messages as the backend may see them (redacted), or None when a guard blocked them."""
        result = await self.pipeline.acheck_messages(messages, self.context)
        self._keep(result.decisions)
        if result.action is Action.BLOCK or result.messages is None:
            return None
        # What an output check may judge the answer against: the request as the model saw it.
        self.context.request = tuple(
            {"role": str(m.get("role") or "user"), "content": _plain(m.get("content"))}
            for m in result.messages
        )
        return result.messages

    async def probe_input(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """For a trial's model view of a blocked input: the messages as the model would have seen
        them had the blocking guards stood aside, with every redaction applied (personal data
        still never reaches the backend). None when other guards block too. The probe's decisions
        are not the call's: the caller was refused, and that is what the ledger records."""
        aside = frozenset(d["guard"] for d in self.decisions if d["action"] == "block")
        pipeline = probe_pipeline_for(self.policy_text, aside)
        context = replace(self.context, conversation=ConversationState())
        result = await pipeline.acheck_messages(messages, context)
        if result.action is Action.BLOCK or result.messages is None:
            return None
        return result.messages

    async def check_output(self, text: str, structured: bool = False) -> str | None:
        """The reply as the caller may see it, or None when a guard blocked it. A `structured`
        reply (asked for as JSON) is masked inside its string values, so it still parses."""
        result = await self.pipeline.acheck_output(text, self.context, structured)
        self._keep(result.decisions)
        if result.action is Action.BLOCK or result.text is None:
            return None
        return result.text

    async def check_tool_calls(self, calls: tuple[ToolCall, ...]) -> tuple[ToolCall, ...] | None:
        """The reply's tool calls with their arguments guarded as model output (each string value
        of the JSON on its own, so the arguments still parse), or None when a guard blocked them.
        Their ids pass the same guards: one a guard would change is replaced by a fresh id."""
        if not calls:
            return calls
        result = await self.pipeline.acheck_arguments(
            [c.arguments for c in calls], self.context, ids=[c.id for c in calls]
        )
        self._keep(result.decisions)
        if result.action is Action.BLOCK or result.arguments is None or result.ids is None:
            return None
        return tuple(
            replace(c, arguments=a, id=i if i == c.id else f"call_{uuid.uuid4().hex[:24]}")
            for c, a, i in zip(calls, result.arguments, result.ids, strict=True)
        )

    def restore_call(self, call: ToolCall) -> ToolCall:
        """A guarded tool call as the caller receives it (see `restore`), its arguments still JSON."""
        if not self.pseudonymising:
            return call
        vault = self.context.conversation
        return replace(
            call,
            arguments=map_json_strings(call.arguments, lambda strings: [restore(v, vault) for v in strings]),
        )

    # -- a streamed reply: feed its deltas, then finish; a block raises GuardBlocked ----------

    def open_stream(self, structured: bool = False) -> None:
        self._stream = self.pipeline.stream_guard(self.context, structured)
        if self.pseudonymising:
            self._restorer = Restorer(self.context.conversation)

    async def feed(self, delta: str) -> str:
        """The text that may be sent now ("" while the guards still need to see what follows).

        Checks are paced: deltas that arrive within the policy's `stream_check_interval_ms` of the
        last check wait for the next delta (or the end) and are checked together with it. Checking
        after every token cost the gateway about 8 ms of CPU per token (name recognition over the
        look-ahead window each time), as much as a small model spends generating it on the same
        cores; paced, text still leaves several times a second and the first text is not delayed."""
        assert self._stream is not None
        self._pending += delta or ""
        now = time.monotonic()
        interval = self.pipeline.policy.limits.stream_check_interval_ms / 1000
        if self._checked_at is not None and now - self._checked_at < interval:
            return ""
        pending, self._pending = self._pending, ""
        if not self._stream.ready(pending):  # nothing to check yet: no thread hop for a held token
            released = self._stream.feed(pending)
        else:
            self._checked_at = now
            released = await anyio.to_thread.run_sync(self._stream.feed, pending)
        return self._restorer.feed(released) if self._restorer is not None else released

    async def finish(self) -> str:
        """The rest of the reply once the backend has finished, with anything a final guard appends."""
        assert self._stream is not None
        stream, pending, self._pending = self._stream, self._pending, ""
        rest = await anyio.to_thread.run_sync(lambda: stream.feed(pending) + stream.finish())
        if self._restorer is not None:
            return self._restorer.feed(rest) + self._restorer.finish()
        return rest

    @property
    def released_text(self) -> str:
        """The guarded text released so far (pseudonymised, never restored): what the ledger records."""
        return self._stream.released_text if self._stream is not None else ""

    def close_stream(self) -> None:
        """Keep the stream's decisions (however it ended) for the call's record."""
        if self._stream is not None:
            self._keep(self._stream.decisions)
            self._stream.decisions = []

    def blocked_by(self) -> dict[str, Any] | None:
        return next((d for d in self.decisions if d["action"] == "block"), None)


def _plain(content: Any) -> str:
    """The text of a (guarded) message content: a string or nested text parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    pieces = []
    for part in content:
        if isinstance(part, dict):
            if isinstance(part.get("text"), str):
                pieces.append(part["text"])
            pieces.append(_plain(part.get("content")))
    return "\n".join(p for p in pieces if p)


def with_canary(messages: list[dict[str, str]], canary: str | None) -> list[dict[str, str]]:
    """Append the endpoint's canary instruction to the system prompt (adding one if there is none)."""
    if not canary:
        return messages
    line = canary_instruction(canary)
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": f"{messages[0]['content']}\n{line}"}, *messages[1:]]
    return [{"role": "system", "content": line}, *messages]
