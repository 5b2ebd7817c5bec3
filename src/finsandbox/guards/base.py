"""The guard contract: one check on input or output that allows, redacts or blocks.

Modelled on LLM Guard's single scanner contract, with a typed registry (Inspect-style decorators) so
the name in a policy YAML resolves to a class whose settings are validated before any text is seen.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from finsandbox import registry


class Action(StrEnum):
    ALLOW = "allow"
    REDACT = "redact"
    BLOCK = "block"


_SEVERITY = {Action.ALLOW: 0, Action.REDACT: 1, Action.BLOCK: 2}


def worst(actions: Any) -> Action:
    """The most severe of some actions (allow < redact < block); allow when there are none."""
    result = Action.ALLOW
    for action in actions:
        if _SEVERITY[action] > _SEVERITY[result]:
            result = action
    return result


@dataclass(frozen=True)
class Span:
    """Where something was found, in the coordinates of the text the guard was given."""

    start: int
    end: int
    entity_type: str
    score: float


@dataclass(frozen=True)
class Decision:
    """One guard's verdict on one text. `text` is the (possibly redacted) text; it may hold raw values."""

    guard: str
    action: Action
    text: str
    reason: str
    score: float
    spans: tuple[Span, ...] = ()
    location: str | None = None
    # A guard's own ledger-safe record of how it decided (the checker's identity, prompt version,
    # verdict per rubric item); a decision that carries one is recorded even when it allows.
    details: Mapping[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        """JSON-safe summary for the ledger: never the text, never the values behind the spans."""
        entities = Counter(span.entity_type for span in self.spans)
        summary: dict[str, Any] = {
            "guard": self.guard,
            "action": str(self.action),
            "reason": self.reason,
            "score": round(float(self.score), 4),
            "entities": dict(sorted(entities.items())),
        }
        if self.location is not None:
            summary["location"] = self.location
        if self.details is not None:
            summary["check"] = dict(self.details)
        return summary


class ConversationState:
    """Per-request memory shared by every message: keeps `<HKID_1>` bound to one value.

    It is also the call's pseudonymisation vault: the value behind each placeholder made from the
    caller's input, so a `pii: pseudonymise` policy can put it back into the reply. Values live only
    in memory for the length of one request; `repr` never shows them.
    """

    def __init__(self) -> None:
        self._placeholders: dict[tuple[str, str], str] = {}
        self._originals: dict[str, str] = {}
        self._counts: Counter[str] = Counter()
        self.system_prompts: list[str] = []

    def placeholder(self, entity_type: str, value: str, *, keep: bool = False) -> str:
        """The placeholder for this value, allocating the next number for its type on first sight.

        With `keep` (the caller's own input), the value is kept in the vault so the reply may get
        it back; a value first seen in the model's output is never kept.
        """
        key = (entity_type, _normalise_value(value))
        found = self._placeholders.get(key)
        if found is None:
            self._counts[entity_type] += 1
            found = f"<{entity_type}_{self._counts[entity_type]}>"
            self._placeholders[key] = found
        if keep:
            self._originals.setdefault(found, value)
        return found

    def original(self, placeholder: str) -> str | None:
        """The caller's value behind a placeholder from the input, or None."""
        return self._originals.get(placeholder)

    def copy(self) -> ConversationState:
        """A scratch copy, so a trial check (streaming look-ahead) cannot consume placeholder numbers."""
        other = ConversationState()
        other._placeholders = dict(self._placeholders)
        other._originals = dict(self._originals)
        other._counts = Counter(self._counts)
        other.system_prompts = list(self.system_prompts)
        return other

    def adopt(self, other: ConversationState) -> None:
        """Take over a scratch copy's placeholders once its text has been released."""
        self._placeholders = dict(other._placeholders)
        self._originals = dict(other._originals)
        self._counts = Counter(other._counts)
        self.system_prompts = list(other.system_prompts)

    def __len__(self) -> int:
        return len(self._placeholders)

    def __repr__(self) -> str:
        return f"ConversationState(placeholders={len(self._placeholders)})"


def _normalise_value(value: str) -> str:
    """Same value written differently (`A123456(3)` vs `a1234563`) gets the same placeholder."""
    return "".join(ch for ch in value.casefold() if ch.isalnum() or ch == "@" or ch == ".")


Direction = Literal["input", "output"]


@dataclass(frozen=True)
class ModelReply:
    """What a guard learns from a model call made for it: the text and who answered."""

    text: str
    endpoint: str
    model: str
    backend: str
    latency_ms: float


class ModelCaller(Protocol):
    """A model call a guard may make (the `checker` guard), handed in by the gateway.

    Guards sit below the gateway and cannot import it, so the gateway passes this callable in the
    guard context. It resolves `endpoint` among the workspace's endpoints, calls its backend
    directly (never through the guards: a check is not checked again), meters and records the
    call as the checker's own, and raises TimeoutError after `timeout_s`. It is called from a
    guard's worker thread. `response_format` (OpenAI's) is passed to backends that honour it and
    left out for the others, so the prompt must ask for the same format in words.
    """

    def __call__(
        self,
        endpoint: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        timeout_s: float,
        response_format: dict[str, Any] | None = None,
    ) -> ModelReply: ...


@dataclass
class GuardContext:
    """What a guard may know about the call it is checking."""

    direction: str = "input"  # "input" | "output"
    role: str = "user"  # system | user | assistant | tool
    source: str = "user"  # "user" | "retrieved" (indirect-injection content) | "system" | "model"
    workspace_id: str | None = None
    endpoint: str | None = None
    customer_facing: bool = False
    canary: str | None = None
    conversation: ConversationState = field(default_factory=ConversationState)
    # For output guards that judge the answer against the request (the checker): the request's
    # messages as the model saw them, after the input guards' redactions.
    request: tuple[Mapping[str, str], ...] = ()
    # Set by the gateway; None where no model may be called (`finsandbox guard check`).
    model_caller: ModelCaller | None = None


class GuardSettings(BaseModel):
    """Base of every guard's settings: unknown keys are a load error, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


StreamScope = Literal["window", "final"]

_WORD_START = re.compile(r"(?:^|(?<=\s))\S")
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+|[。！？]+|\n")


@dataclass(frozen=True)
class Lookahead:
    """How much of what follows a guard must see before streamed text may be released to the caller.

    `words`: a finding can span this many words, so the last `words` words (the last one perhaps
    still incomplete) wait for more text; a finding that starts in released text is then always
    whole in the text checked with it, and is caught before any of it leaves. `sentence`: the guard
    judges whole sentences, so an unfinished sentence waits for its end (up to the policy's
    `stream_window_chars`; a longer one is released `words` behind). `behind`: characters of
    already released text the guard must see again as left context (a context word before a
    number makes it a phone number).
    """

    words: int = 4
    sentence: bool = False
    behind: int = 0

    def holdback(self, text: str, window: int) -> int:
        """The number of characters at the end of `text` that must wait for what follows."""
        if self.sentence:
            ends = [m.end() for m in _SENTENCE_END.finditer(text)]
            unfinished = len(text) - (ends[-1] if ends else 0)
            if unfinished <= window:
                return unfinished
        return _last_words(text, self.words)


def _last_words(text: str, n: int) -> int:
    """Characters from the start of the n-th last word to the end (the whole text if it is shorter)."""
    if n <= 0:
        return 0
    starts = [m.start() for m in _WORD_START.finditer(text)]
    if len(starts) < n:
        return len(text)
    return len(text) - starts[-n]


class Guard(ABC):
    """One check. Subclasses set `name` and `Settings` and implement `check`.

    `stream_scope` says how a streaming response is checked: "window" guards see the held-back
    text before any of it is released; "final" guards see the whole output at the end and may only
    append to it. `lookahead` (or, for a need that depends on the text, `holdback`) says how much
    of what follows a window guard must see first: a few words for most, a sentence for some. A
    guard that says nothing is given a sentence, the safe choice.
    """

    name: ClassVar[str]
    Settings: ClassVar[type[GuardSettings]] = GuardSettings
    # Where a policy may place this guard; output-only checks in an input list are a load error.
    directions: ClassVar[tuple[str, ...]] = ("input", "output")

    def __init__(self, settings: GuardSettings | dict[str, Any] | None = None) -> None:
        if not isinstance(settings, self.Settings):
            settings = self.Settings.model_validate(settings or {})
        self.settings = settings

    lookahead: Lookahead = Lookahead(words=8, sentence=True, behind=64)
    # A guard that needs the whole answer before any of it may leave (the checker): with it in a
    # policy, a stream's text is held until the reply is complete and has passed.
    holds_stream: ClassVar[bool] = False
    # Must run after every redacting guard of its direction (it sends the text to a model).
    after_redaction: ClassVar[bool] = False

    def timeout_ms(self) -> int | None:
        """This guard's own time limit when the policy sets none for it (None: the policy's)."""
        return None

    @property
    def stream_scope(self) -> StreamScope:
        return "window"

    def holdback(self, text: str, context: GuardContext, window: int) -> int:
        """How many characters at the end of streamed `text` must wait for more before release."""
        return self.lookahead.holdback(text, window)

    @abstractmethod
    def check(self, text: str, context: GuardContext) -> Decision:
        """Decide on one text; raising is allowed and the pipeline turns it into a block."""

    def allow(self, text: str, reason: str = "ok", score: float = 0.0) -> Decision:
        return Decision(guard=self.name, action=Action.ALLOW, text=text, reason=reason, score=score)

    def block(self, text: str, reason: str, score: float = 1.0, spans: tuple[Span, ...] = ()) -> Decision:
        return Decision(
            guard=self.name, action=Action.BLOCK, text=text, reason=reason, score=score, spans=spans
        )


def append_text(text: str, addition: str) -> str:
    """`text` followed by `addition` as its own paragraph, never touching `text` (it may be sent already)."""
    if not text.strip():
        return text + addition
    return text + ("\n" if text.endswith("\n") else "\n\n") + addition


guard = registry.guards.register
"""Class decorator: register a guard under the name a policy YAML uses (`@guard("pii")`)."""


def registered_guards() -> dict[str, type[Guard]]:
    """Every known guard by name, built-ins and plugins."""
    return {e.name: e.obj for e in registry.guards.entries()}


def get_guard(name: str) -> type[Guard]:
    """The guard class for a policy name; a ConfigError names the known ones."""
    cls: type[Guard] = registry.guards.get(name)
    return cls
