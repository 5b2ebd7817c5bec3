"""Presidio-style pattern recognizer: regex candidates, a checksum gate, and context words.

Scores follow one rule so policies can reason about them: a pattern's base score is at most 0.65,
a checksum failure drops the candidate, and a context word near the match adds `context_boost`
(capped at 1.0). The default reporting threshold (0.5) therefore needs either a strong pattern
or a weak pattern plus context.

"Near" means in the same sentence (or line, or table cell and its column header), not within a
fixed number of characters: "SWIFT code of the beneficiary's bank in London, as agreed: DEUTDEFF500"
keeps its cue however long the clause. A cue only counts if no counter-cue (`anti_context`, such
as "reference" for a phone) sits between it and the value: in "contact us about reference
12345678" the number belongs to "reference", not to "contact".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from finsandbox import registry
from finsandbox.guards.base import Span

DEFAULT_MIN_SCORE = 0.5
# How far back in its sentence a context word may sit (characters); streams re-check this much.
CONTEXT_BEFORE = 160
# A pattern this sure of itself (a country code, a checksum) is not undone by a counter-cue.
STRONG_SCORE = 0.55


@dataclass(frozen=True)
class Pattern:
    name: str
    regex: str
    score: float
    flags: int = 0


class Recognizer:
    """Finds one entity type. Subclasses set the class attributes and may override `validate`."""

    entity_type: str = ""
    # Breaks exact ties (same span, same score) between types: lower wins, so a checksummed
    # identifier beats a looser pattern. Plugins default to after every built-in.
    precedence: int = 1000
    patterns: tuple[Pattern, ...] = ()
    context: tuple[str, ...] = ()
    # Words that claim a nearby value for something else; a closer one cancels a context word.
    anti_context: tuple[str, ...] = ()
    context_boost: float = 0.35
    # How far a cue may sit from the value, at most, inside its sentence (characters).
    context_before: int = CONTEXT_BEFORE
    context_after: int = 24
    # Which regex group holds the value (0 = whole match); lets patterns assert boundaries.
    group: int | str = 0
    # A character class every match of every pattern contains (r"\d": all need a digit): a text
    # without one is not scanned at all. Most chat turns hold no digit, and scanning them for
    # phone, card and account numbers was the guards' largest cost per call.
    requires: str | None = None

    def __init__(self) -> None:
        self._compiled = [(p, re.compile(p.regex, p.flags)) for p in self.patterns]
        self._requires = re.compile(self.requires) if self.requires else None
        self._context_re = _words_regex(self.context)
        self._anti_re = _words_regex(self.anti_context)

    def validate(self, value: str) -> bool:
        """Checksum or plausibility check on the matched value; False drops the candidate."""
        return True

    def pattern_score(self, pattern: Pattern, value: str) -> float:
        """The base score for a validated value; override to grade values (e.g. known bank codes)."""
        return pattern.score

    def has_context(self, text: str, start: int, end: int) -> bool:
        """Whether a context word claims the value at text[start:end] (see the module docstring)."""
        return self.claim(text, start, end) > 0

    def claim(self, text: str, start: int, end: int) -> int:
        """+1 when the nearest cue in the value's sentence (or its column header) is a context word,
        -1 when it is a counter-cue ("ticket no. 4567 8901" is not a phone), 0 when there is none."""
        if self._context_re is None and self._anti_re is None:
            return 0
        left, right = sentence_bounds(text, start, end, self.context_before, self.context_after)
        before = text[left:start].lower()
        cue, anti = _last(self._context_re, before), _last(self._anti_re, before)
        if cue is not None and (anti is None or anti < cue):
            return 1
        after = text[end:right].lower()
        cue_after = self._context_re.search(after) if self._context_re is not None else None
        anti_after = self._anti_re.search(after) if self._anti_re is not None else None
        if (
            cue_after is not None
            and anti is None
            and (anti_after is None or anti_after.start() > cue_after.start())
        ):
            return 1
        header = column_header(text, start, end)
        if header is not None:
            header = header.lower()
            if self._context_re is not None and self._context_re.search(header):
                return 1
            if self._anti_re is not None and self._anti_re.search(header):
                return -1
        return -1 if anti is not None else 0

    def adjusted(self, score: float, text: str, start: int, end: int) -> float:
        """A base score moved up by a context word or down by a counter-cue, within [0, 1].

        A counter-cue only weakens an ambiguous shape: "+852 9123 4567" after "account holder"
        is still a phone.
        """
        claim = self.claim(text, start, end)
        if claim > 0 or score < STRONG_SCORE:
            score += self.context_boost * claim
        return round(min(max(score, 0.0), 1.0), 4)

    def analyze(self, text: str) -> list[Span]:
        if self._requires is not None and self._requires.search(text) is None:
            return []
        spans: list[Span] = []
        seen: set[tuple[int, int]] = set()
        for pattern, regex in self._compiled:
            for match in regex.finditer(text):
                start, end = match.span(self.group)
                if (start, end) in seen or start == end:
                    continue
                value = match.group(self.group)
                if not self.validate(value):
                    continue
                score = self.adjusted(self.pattern_score(pattern, value), text, start, end)
                seen.add((start, end))
                spans.append(Span(start, end, self.entity_type, score))
        return spans


recogniser = registry.recognisers.register
"""Class decorator: register a recogniser under its entity type (`@recogniser("HKID")`)."""


_BOUNDARY = re.compile(r"[.!?;。！？；](?=\s|$)|\n|\t|\|")
# A full stop after these is an abbreviation ("Tel. 9123 4567", "a/c no. 123456789"), not a sentence end.
_ABBREVIATION_TEXT = (
    "no tel fax mob ref acct a/c mr mrs ms mdm dr prof st co ltd inc corp dept approx e.g i.e etc "
)
_ABBREVIATIONS = frozenset((_ABBREVIATION_TEXT + "attn encl cust reg ac acc pp").split())
_WORD_BEFORE = re.compile(r"([A-Za-z/.:]+)$")


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    if match.group(0) != ".":
        return True
    word = _WORD_BEFORE.search(text, max(0, match.start() - 8), match.start())
    return word is None or word.group(1).lower().rstrip(".") not in _ABBREVIATIONS


def sentence_bounds(text: str, start: int, end: int, before: int, after: int) -> tuple[int, int]:
    """The part of text around [start, end) that belongs to the same sentence, line or cell."""
    lo = max(0, start - before)
    left = lo
    for match in _BOUNDARY.finditer(text, lo, start):
        if _is_boundary(text, match):
            left = match.end()
    hi = min(len(text), end + after)
    right = hi
    for match in _BOUNDARY.finditer(text, end, hi):
        if _is_boundary(text, match):
            right = match.start()
            break
    return left, right


def split_cells(line: str, delimiter: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of each cell, trimmed of spaces and quotes; a quoted cell may hold the
    delimiter ("Lee, Mei Ling")."""
    out = []
    pos = 0
    n = len(line)
    while pos <= n:
        start = pos
        while start < n and line[start] == " ":
            start += 1
        if start < n and line[start] == '"':
            close = line.find('"', start + 1)
            while close != -1 and close + 1 < n and line[close + 1] == '"':
                close = line.find('"', close + 2)
            if close != -1:
                out.append((start + 1, close, line[start + 1 : close]))
                nxt = line.find(delimiter, close + 1)
                pos = n + 1 if nxt == -1 else nxt + len(delimiter)
                continue
        nxt = line.find(delimiter, pos)
        end = n if nxt == -1 else nxt
        cell_start, cell_end = start, end
        while cell_end > cell_start and line[cell_end - 1] in " \"'":
            cell_end -= 1
        while cell_start < cell_end and line[cell_start] in "\"'":
            cell_start += 1
        out.append((cell_start, cell_end, line[cell_start:cell_end]))
        pos = n + 1 if nxt == -1 else nxt + len(delimiter)
    return out


DELIMITERS = (",", "|", "\t", ";")


def column_header(text: str, start: int, end: int, max_rows: int = 200) -> str | None:
    """The header of the table column holding text[start:end], for CSV rows and pipe/tab tables.

    The header is the nearest line above with the same delimiter, the same number of cells and no
    digits; a blank line ends the search.
    """
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : len(text) if line_end == -1 else line_end].rstrip("\r")
    delimiter = next((d for d in DELIMITERS if d in line), "")
    if not delimiter:
        return None
    cells = split_cells(line, delimiter)
    where = next((i for i, (s, e, _) in enumerate(cells) if s <= start - line_start < max(e, s + 1)), None)
    if where is None:
        return None
    cursor = line_start - 1
    for _ in range(max_rows):
        if cursor <= 0:
            return None
        above_start = text.rfind("\n", 0, cursor) + 1
        above = text[above_start:cursor].rstrip("\r")
        cursor = above_start - 1
        if not above.strip():
            return None
        if delimiter not in above or set(above) <= set(delimiter + "-=:+ "):
            continue
        row = split_cells(above, delimiter)
        if len(row) == len(cells) and not any(ch.isdigit() for ch in above):
            return row[where][2]
    return None


def _words_regex(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(r"(?<![a-z0-9])(?:" + alternatives + r")(?![a-z0-9])")


def _last(regex: re.Pattern[str] | None, text: str) -> int | None:
    """Start of the last match of regex in text, or None."""
    if regex is None:
        return None
    last = None
    for match in regex.finditer(text):
        last = match.start()
    return last


def digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())
