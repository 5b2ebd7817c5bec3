"""Banned topics: a workspace's own list of subjects the assistant must not discuss, in or out.

Keywords match whole words on folded text (so homoglyphs and full-width letters do not slip past);
patterns are regular expressions for anything keywords cannot say.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from finsandbox.guards.base import Decision, Guard, GuardContext, GuardSettings, Lookahead, guard
from finsandbox.guards.text import fold


class Topic(GuardSettings):
    name: str = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
        return value


class BannedTopicsSettings(GuardSettings):
    topics: list[Topic] = Field(default_factory=list)


@guard("banned_topics")
class BannedTopicsGuard(Guard):
    Settings = BannedTopicsSettings
    settings: BannedTopicsSettings

    def __init__(self, settings: BannedTopicsSettings | dict | None = None) -> None:
        super().__init__(settings)
        self._compiled: list[tuple[str, re.Pattern[str]]] = []
        for topic in self.settings.topics:
            parts = [rf"(?<!\w){re.escape(fold(k).strip())}(?!\w)" for k in topic.keywords if k.strip()]
            parts += [f"(?:{p})" for p in topic.patterns]
            if parts:
                self._compiled.append((topic.name, re.compile("|".join(parts), re.IGNORECASE)))
        # A keyword of n words needs n words of look-ahead; a pattern may span a sentence.
        longest = max((len(k.split()) for t in self.settings.topics for k in t.keywords), default=1)
        sentence = any(t.patterns for t in self.settings.topics)
        self.lookahead = Lookahead(words=max(longest, 1) + 1, sentence=sentence, behind=64)

    def check(self, text: str, context: GuardContext) -> Decision:
        folded = fold(text)
        found = [name for name, regex in self._compiled if regex.search(folded)]
        if found:
            return self.block(text, f"banned topic: {', '.join(found)}")
        return self.allow(text, "no banned topics")
