"""Runs a guard policy over a request's messages and a model's output, failing closed.

Each guard runs under its timeout through `finsandbox.guards.steps`: an exception, a timeout or a
malformed decision is a block, never a pass.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from finsandbox.errors import ConfigError, InvalidRequest
from finsandbox.guards.base import Action, Decision, GuardContext, get_guard, worst
from finsandbox.guards.errors import GuardBlocked, InputTooLarge
from finsandbox.guards.policy import GuardPolicy
from finsandbox.guards.steps import Step, run_chain, run_one, watched, watched_async
from finsandbox.guards.stream import StreamGuard
from finsandbox.guards.text import map_json_strings


@dataclass
class PipelineResult:
    """The outcome over all texts checked. On a block, `messages`/`text` are None: nothing is forwarded."""

    action: Action
    decisions: list[Decision] = field(default_factory=list)
    messages: list[dict[str, Any]] | None = None
    text: str | None = None
    arguments: list[str] | None = None  # tool calls' arguments, from `check_arguments`
    ids: list[str] | None = None  # and their ids, when it was given them

    @property
    def blocked_by(self) -> Decision | None:
        return next((d for d in self.decisions if d.action is Action.BLOCK), None)

    def raise_if_blocked(self, direction: str) -> None:
        if (decision := self.blocked_by) is not None:
            raise GuardBlocked(decision, direction)

    def public(self, *, include_allow: bool = False) -> list[dict[str, Any]]:
        """Ledger-safe decision summaries (no raw values); allows are left out unless asked for."""
        return [d.public() for d in self.decisions if include_allow or d.action is not Action.ALLOW]


class Pipeline:
    """A guard policy made executable.

    `check_messages` and `check_output` block their caller (call them from a worker thread);
    `acheck_messages` and `acheck_output` are the same checks awaited on an event loop. Each runs
    as one watched job in the guard pool (see `steps`), every guard under its own timeout.
    """

    def __init__(self, policy: GuardPolicy, input_steps: list[Step], output_steps: list[Step]) -> None:
        self.policy = policy
        self.input_steps = input_steps
        self.output_steps = output_steps

    @classmethod
    def from_policy(cls, policy: GuardPolicy) -> Pipeline:
        def build(specs: list[Any], section: str) -> list[Step]:
            steps = []
            for i, spec in enumerate(specs):
                if not spec.enabled:
                    continue
                try:
                    instance = get_guard(spec.guard)(spec.parsed_settings)
                except Exception as exc:  # e.g. NER requested but no model installed
                    raise ConfigError(f"{section}.{i}: guard {spec.guard!r} cannot start: {exc}") from exc
                timeout_ms = spec.timeout_ms or instance.timeout_ms() or policy.limits.timeout_ms
                steps.append(Step(instance, timeout_ms / 1000))
            return steps

        return cls(policy, build(policy.input, "input"), build(policy.output, "output"))

    # -- running guards ------------------------------------------------------------------------

    def _run_one(self, step: Step, text: str, context: GuardContext) -> Decision:
        return run_one(step, text, context)

    def _run_chain(
        self, steps: list[Step], text: str, context: GuardContext, location: str
    ) -> tuple[str, list[Decision], bool]:
        """(text after redactions, decisions, blocked?) for one text through a list of guards."""
        return run_chain(steps, text, context, location)

    # -- input ---------------------------------------------------------------------------------

    def check_messages(self, messages: list[dict[str, Any]], context: GuardContext) -> PipelineResult:
        """Check every text of an OpenAI-shaped message list; returns redacted copies in the same shape."""
        return watched(self._check_messages, messages, context, on_timeout=_blocked, idle=self._idle("input"))

    async def acheck_messages(self, messages: list[dict[str, Any]], context: GuardContext) -> PipelineResult:
        """`check_messages` on an event loop, holding no thread while the guards run."""
        return await watched_async(
            self._check_messages, messages, context, on_timeout=_blocked, idle=self._idle("input")
        )

    def _idle(self, direction: str) -> Step | None:
        steps = self.input_steps if direction == "input" else self.output_steps
        return steps[0] if steps else None

    def _check_messages(self, messages: list[dict[str, Any]], context: GuardContext) -> PipelineResult:
        """The checks of `check_messages`.

        A message may carry "finsandbox_source": "retrieved" to mark indirect-injection content (it is
        removed from the copies); tool results count as retrieved. Non-text parts pass unchanged. The
        arguments of an assistant message's tool calls are checked string value by string value, so
        they stay JSON; the ids of its calls and a tool message's `tool_call_id` are checked as text
        (a caller's id is free text), each id masked alike wherever it stands.
        """
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise InvalidRequest("messages must be a list of objects", param="messages")
        total = sum(len(text) for message in messages for _, text in _texts(message.get("content")))
        total += sum(len(a) for message in messages for _, a in _arguments(message))
        limit = self.policy.limits.max_input_chars
        if total > limit:
            raise InputTooLarge(
                f"input has {total} characters; this workspace's guard policy allows at most {limit}",
                param="messages",
            )
        context = replace(context, direction="input")
        decisions: list[Decision] = []
        out: list[dict[str, Any]] = []
        for i, message in enumerate(messages):
            role = str(message.get("role") or "user")
            source = str(message.get("finsandbox_source") or _default_source(role))
            msg_context = replace(context, role=role, source=source)
            copied = copy.deepcopy({k: v for k, v in message.items() if k != "finsandbox_source"})
            content = copied.get("content")
            if role == "system":
                context.conversation.system_prompts.extend(t for _, t in _texts(content) if t.strip())
            if isinstance(content, str):
                if content:
                    new, found, blocked = self._run_chain(
                        self.input_steps, content, msg_context, f"messages[{i}]"
                    )
                    decisions.extend(found)
                    if blocked:
                        return PipelineResult(Action.BLOCK, decisions)
                    copied["content"] = new
            elif isinstance(content, list):
                blocked = self._check_parts(content, msg_context, f"messages[{i}].content", decisions)
                if blocked:
                    return PipelineResult(Action.BLOCK, decisions)
            elif content is not None:
                raise InvalidRequest(f"messages[{i}].content must be a string, a list of parts or null")
            for j, arguments in _arguments(copied):
                where = f"messages[{i}].tool_calls[{j}].function.arguments"
                new = self._guard_json(self.input_steps, arguments, msg_context, where, decisions)
                if new is None:
                    return PipelineResult(Action.BLOCK, decisions)
                copied["tool_calls"][j]["function"]["arguments"] = new
            for where, holder, key in _ids(copied, i):
                try:
                    [holder[key]] = self._check_strings(
                        self.input_steps, [holder[key]], msg_context, where, decisions
                    )
                except GuardBlocked:
                    return PipelineResult(Action.BLOCK, decisions)
            out.append(copied)
        return PipelineResult(worst(d.action for d in decisions), decisions, messages=out)

    def _check_parts(
        self, parts: list[Any], context: GuardContext, where: str, decisions: list[Decision]
    ) -> bool:
        """Check text parts in place (on the copy), recursing into nested content lists."""
        for j, part in enumerate(parts):
            if not isinstance(part, dict):
                raise InvalidRequest(f"{where}[{j}] must be an object")
            text = part.get("text")
            if isinstance(text, str) and text:
                new, found, blocked = self._run_chain(self.input_steps, text, context, f"{where}[{j}].text")
                decisions.extend(found)
                if blocked:
                    return True
                part["text"] = new
            nested = part.get("content")
            if isinstance(nested, list) and self._check_parts(
                nested, context, f"{where}[{j}].content", decisions
            ):
                return True
            if isinstance(nested, str) and nested:
                new, found, blocked = self._run_chain(
                    self.input_steps, nested, context, f"{where}[{j}].content"
                )
                decisions.extend(found)
                if blocked:
                    return True
                part["content"] = new
        return False

    # -- output --------------------------------------------------------------------------------

    def check_output(self, text: str, context: GuardContext, structured: bool = False) -> PipelineResult:
        """Check a complete model reply; all output guards run in policy order. A `structured`
        reply (one asked for as JSON) is checked as `check_arguments` checks arguments, then by
        the guards that judge it whole, so a mask keeps it parsing."""
        return watched(
            self._check_output, text, context, structured, on_timeout=_blocked, idle=self._idle("output")
        )

    async def acheck_output(
        self, text: str, context: GuardContext, structured: bool = False
    ) -> PipelineResult:
        """`check_output` on an event loop, holding no thread while the guards run."""
        return await watched_async(
            self._check_output, text, context, structured, on_timeout=_blocked, idle=self._idle("output")
        )

    def _check_output(self, text: str, context: GuardContext, structured: bool = False) -> PipelineResult:
        context = self._output_context(context)
        if structured:
            return self._check_structured(text or "", context)
        new, decisions, blocked = self._run_chain(self.output_steps, text or "", context, "output")
        if blocked:
            return PipelineResult(Action.BLOCK, decisions)
        return PipelineResult(worst(d.action for d in decisions), decisions, text=new)

    def check_arguments(
        self, arguments: list[str], context: GuardContext, ids: list[str] | None = None
    ) -> PipelineResult:
        """Check the arguments of the tool calls in a reply (model output, like its text), and their
        `ids` if given (the upstream wrote them: a canary or an e-mail fits in one)."""
        return watched(
            self._check_arguments, arguments, context, ids, on_timeout=_blocked, idle=self._idle("output")
        )

    async def acheck_arguments(
        self, arguments: list[str], context: GuardContext, ids: list[str] | None = None
    ) -> PipelineResult:
        """`check_arguments` on an event loop."""
        return await watched_async(
            self._check_arguments, arguments, context, ids, on_timeout=_blocked, idle=self._idle("output")
        )

    def _check_structured(self, text: str, context: GuardContext) -> PipelineResult:
        """A JSON reply: string values through the window guards, then the whole through the rest."""
        window = [s for s in self.output_steps if s.guard.stream_scope == "window"]
        whole = [s for s in self.output_steps if s.guard.stream_scope != "window"]
        decisions: list[Decision] = []
        new = self._guard_json(window, text, context, "output", decisions)
        if new is None:
            return PipelineResult(Action.BLOCK, decisions)
        new, found, blocked = self._run_chain(whole, new, context, "output")
        decisions.extend(found)
        if blocked:
            return PipelineResult(Action.BLOCK, decisions)
        return PipelineResult(worst(d.action for d in decisions), decisions, text=new)

    def _check_arguments(
        self, arguments: list[str], context: GuardContext, ids: list[str] | None = None
    ) -> PipelineResult:
        """Each call's JSON arguments through the output guards that judge text where it stands
        (`stream_scope == "window"`: personal data, leaks, banned topics), string value by string
        value, so a mask never breaks the JSON a program will parse. The guards that judge or amend
        the whole reply for its reader (disclosure, disclaimers, the checker) apply to its text."""
        context = self._output_context(context)
        steps = [s for s in self.output_steps if s.guard.stream_scope == "window"]
        decisions: list[Decision] = []
        out: list[str] = []
        for i, raw in enumerate(arguments):
            new = self._guard_json(steps, raw, context, f"tool_calls[{i}].function.arguments", decisions)
            if new is None:
                return PipelineResult(Action.BLOCK, decisions)
            out.append(new)
        checked_ids: list[str] = []
        for i, call_id in enumerate(ids or []):
            try:
                checked_ids += self._check_strings(
                    steps, [call_id], context, f"tool_calls[{i}].id", decisions
                )
            except GuardBlocked:
                return PipelineResult(Action.BLOCK, decisions)
        return PipelineResult(
            worst(d.action for d in decisions), decisions, arguments=out, ids=checked_ids if ids else None
        )

    def _guard_json(
        self, steps: list[Step], raw: str, context: GuardContext, where: str, decisions: list[Decision]
    ) -> str | None:
        """JSON text with its strings through `steps` (still valid JSON); None on a block."""
        try:
            return map_json_strings(
                raw, lambda strings: self._check_strings(steps, strings, context, where, decisions)
            )
        except GuardBlocked:
            return None

    def _check_strings(
        self,
        steps: list[Step],
        strings: list[str],
        context: GuardContext,
        where: str,
        decisions: list[Decision],
    ) -> list[str]:
        """The strings of one JSON text through `steps`: joined, as one text (one run of each guard,
        and a value keeps its key as context: "phone" and 91234567 read in one sentence), or one by
        one where a redaction crossed a boundary. Raises GuardBlocked on a block."""
        if len(strings) > 1 and not any(JSON_SEPARATOR in s or KEY_SEPARATOR in s for s in strings):
            key_at = getattr(strings, "key_at", frozenset())
            joined = strings[0] + "".join(
                (KEY_SEPARATOR if i - 1 in key_at else JSON_SEPARATOR) + s for i, s in enumerate(strings) if i
            )
            new, found, blocked = self._run_chain(steps, joined, context, where)
            if blocked:
                decisions.extend(found)
                raise GuardBlocked(found[-1], context.direction)
            parts = _SEPARATORS.split(new)
            if len(parts) == len(strings):
                decisions.extend(found)
                # A key is rewritten only for what it holds itself: a finding in its value may reach
                # into it ("customer: Ming Kok" read as one name), and a program (or the JSON schema
                # the caller asked for) expects its keys as they were.
                for i in key_at:
                    if parts[i] != strings[i]:
                        alone, own, blocked = self._run_chain(steps, strings[i], context, where)
                        if blocked:
                            decisions.extend(own)
                            raise GuardBlocked(own[-1], context.direction)
                        parts[i] = alone
                return parts
        out = []
        for value in strings:
            new, found, blocked = self._run_chain(steps, value, context, where)
            decisions.extend(found)
            if blocked:
                raise GuardBlocked(found[-1], context.direction)
            out.append(new)
        return out

    def stream_guard(self, context: GuardContext, structured: bool = False) -> StreamGuard:
        """A guard for one streamed reply; see finsandbox.guards.stream for how text is released."""
        return StreamGuard(self, self._output_context(context), structured=structured)

    def _output_context(self, context: GuardContext) -> GuardContext:
        customer_facing = context.customer_facing or self.policy.customer_facing
        return replace(
            context, direction="output", role="assistant", source="model", customer_facing=customer_facing
        )


def _blocked(decisions: list[Decision]) -> PipelineResult:
    """The result of a check given up on because a guard overran its timeout (the last decision)."""
    return PipelineResult(Action.BLOCK, decisions)


JSON_SEPARATOR = "\n\u2029\n"
"""Between the strings of a JSON text checked as one: a paragraph break no finding spans."""
KEY_SEPARATOR = ":\u2063 "
"""Between an object's key and its value: the same sentence, so a cue in the key counts."""
_SEPARATORS = re.compile(f"{re.escape(JSON_SEPARATOR)}|{re.escape(KEY_SEPARATOR)}")


def _arguments(message: dict[str, Any]) -> Iterator[tuple[int, str]]:
    """(index, arguments) for every function call an assistant message carries."""
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return
    for j, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            yield j, function["arguments"]


def _ids(message: dict[str, Any], i: int) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(location, holder, key) of every tool call id a message carries, to check in place."""
    for j, call in enumerate(message.get("tool_calls") or []):
        if isinstance(call, dict) and isinstance(call.get("id"), str):
            yield f"messages[{i}].tool_calls[{j}].id", call, "id"
    if isinstance(message.get("tool_call_id"), str):
        yield f"messages[{i}].tool_call_id", message, "tool_call_id"


def _default_source(role: str) -> str:
    return {"system": "system", "developer": "system", "assistant": "model", "tool": "retrieved"}.get(
        role, "user"
    )


def _texts(content: Any) -> Iterator[tuple[str, str]]:
    """(location, text) for every text in a content value, nested parts included."""
    if isinstance(content, str):
        yield "", content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    yield "text", part["text"]
                yield from _texts(part.get("content"))


__all__ = ["GuardBlocked", "InputTooLarge", "Pipeline", "PipelineResult", "StreamGuard"]
