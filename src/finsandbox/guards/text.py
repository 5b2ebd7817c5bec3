"""Text normalisation shared by guards: what an attacker uses to hide words from a regex.

Folding is for *detection only*; guards never hand folded text to the model.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

# Bidirectional overrides and isolates: reorder what a reviewer sees ("Trojan Source").
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Invisible characters with no business inside Latin-script banking text.
INVISIBLE = frozenset("\u200b\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u00ad\u034f\u115f\u1160\u3164")
# The same sets for str.translate and re, which walk a text in C (a Python loop over its
# characters cost microseconds per chat turn, on every fold).
_DROP_HIDDEN = dict.fromkeys(map(ord, INVISIBLE | BIDI_CONTROLS))
_INVISIBLE_CHAR = re.compile("[" + "".join(sorted(INVISIBLE)) + "]")
_BIDI_CHAR = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")
# Joiners are legitimate in emoji and Indic scripts, so they only count between ASCII letters.
_JOINER_IN_WORD = re.compile(r"(?<=[A-Za-z])[\u200c\u200d]+(?=[A-Za-z])")
_TAG_CHARS = re.compile(r"[\U000e0000-\U000e007f]+")

# Latin look-alikes from Cyrillic and Greek (the confusables seen in jailbreak prompts).
HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁɡһӏԛԝАВЕКМНОРСТХІЈЅаϲеοрѵνυαιкκτΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdghlqwABEKMHOPCTXIJSaceopvvuaikktABEZHIKMNOPTYX",
)
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"}
)
_LEET_IN_WORD = re.compile(r"[a-z][0-9@$!|][a-z]|[0-9@$|][a-z]{2}", re.IGNORECASE)
_WS = re.compile(r"\s+")
_MIXED_SCRIPT_WORD = re.compile(r"\b(?=\w*[A-Za-z])(?=\w*[\u0370-\u03ff\u0400-\u04ff])\w+\b")
_GREEK_OR_CYRILLIC = re.compile(r"[\u0370-\u03ff\u0400-\u04ff]")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?:\\x[0-9a-fA-F]{2}){6,}|(?<![0-9a-fA-F])(?:[0-9a-fA-F]{2}[ :]?){8,}(?![0-9a-fA-F])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def sanitize(text: str) -> tuple[str, int]:
    """Drop C0/C1 control characters (tab, newline, CR stay) and lone surrogates; return the count."""
    cleaned, n_control = _CONTROL.subn("", text)
    cleaned, n_surrogate = _SURROGATE.subn("\ufffd", cleaned)
    return cleaned, n_control + n_surrogate


def hidden_characters(text: str) -> tuple[int, int, str]:
    """(invisible count, bidi count, ASCII smuggled in Unicode tag characters)."""
    invisible = len(_INVISIBLE_CHAR.findall(text)) + sum(len(m) for m in _JOINER_IN_WORD.findall(text))
    bidi = len(_BIDI_CHAR.findall(text))
    smuggled = "".join(
        chr(ord(ch) - 0xE0000) for m in _TAG_CHARS.findall(text) for ch in m if ord(ch) > 0xE001F
    )
    return invisible, bidi, smuggled


def strip_hidden(text: str) -> str:
    text = text.translate(_DROP_HIDDEN)
    return _TAG_CHARS.sub("", _JOINER_IN_WORD.sub("", text))


def fold(text: str) -> str:
    """Lower-case, NFKC (full-width, math letters), no invisibles, Latin look-alikes, one space."""
    if text.isascii():  # every hidden, look-alike or NFKC-changed character is outside ASCII
        return _WS.sub(" ", text).lower()
    text = unicodedata.normalize("NFKC", strip_hidden(text)).translate(HOMOGLYPHS)
    return _WS.sub(" ", text).lower()


def mixed_script_words(text: str) -> int:
    """Words mixing Latin with Cyrillic or Greek letters: a homoglyph attack, rarely a typo."""
    if not _GREEK_OR_CYRILLIC.search(text):
        return 0  # no word can mix scripts; the word regex tries every word boundary to learn that
    return len(_MIXED_SCRIPT_WORD.findall(text))


def unleet(folded: str) -> str | None:
    """Leetspeak read back as letters, or None when the text shows no sign of it."""
    if not _LEET_IN_WORD.search(folded):
        return None
    return folded.translate(_LEET)


def rot13(folded: str) -> str:
    return codecs.encode(folded, "rot13")


def _printable(data: bytes) -> str | None:
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch in "\n\t" for ch in decoded)
    return (
        decoded if decoded and printable / len(decoded) > 0.9 and re.search(r"[A-Za-z]{3}", decoded) else None
    )


def decoded_payloads(text: str, limit: int = 32) -> list[tuple[str, str]]:
    """(encoding, decoded text) for base64 and hex runs that decode to readable text."""
    found: list[tuple[str, str]] = []
    for match in _BASE64.finditer(text):
        token = match.group(0)
        if token.isalpha() or token.isdigit():
            continue  # plain words and numbers are not base64 payloads
        try:
            raw = base64.b64decode(
                token + "=" * (-len(token) % 4), altchars=b"-_" if "-" in token or "_" in token else None
            )
        except (binascii.Error, ValueError):
            continue
        if (decoded := _printable(raw)) is not None:
            found.append(("base64", decoded))
        if len(found) >= limit:
            return found
    for match in _HEX.finditer(text):
        hex_digits = re.sub(r"\\x|[ :]", "", match.group(0))
        try:
            raw = bytes.fromhex(hex_digits)
        except ValueError:
            continue
        if (decoded := _printable(raw)) is not None:
            found.append(("hex", decoded))
        if len(found) >= limit:
            break
    return found


class JsonStrings(list[str]):
    """The strings of a JSON text in document order, knowing which are object keys: a key is read
    with the value that follows it (a phone cue in the key, the number in the value)."""

    def __init__(self, strings: list[str], key_at: set[int]) -> None:
        super().__init__(strings)
        self.key_at = frozenset(key_at)


class _Number:
    """A JSON number as it was written: checked as its text, kept a number unless a guard changed it."""

    __slots__ = ("text", "value")

    def __init__(self, text: str, value: int | float) -> None:
        self.text, self.value = text, value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different: with a duplicate key a parser keeps one value and the
    raw text still carries the other, so such text is not walked as JSON but checked whole."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def map_json_strings(raw: str, rewrite: Callable[[list[str]], list[str]]) -> str:
    """`raw` JSON text with its strings (object keys, string values and numbers as written, in
    document order) replaced by `rewrite(strings)`, re-serialised only when one changed, so the
    result still parses. Text that is not JSON (or nests too deep to walk, or repeats a key in an
    object) is rewritten whole, as a list of one.

    Guards use it where model text is for a program rather than a person (a tool call's arguments,
    a structured answer): masking the raw JSON could cut through its quoting, and personal data
    written in JSON escapes (\\u0040) would pass a check of the raw text unread. Keys are checked
    too (an object may map a customer's name to a value); two keys masked alike stay two keys.
    Numbers are checked as written (a phone or card number needs no quotes); one a guard changes
    becomes the string it was changed to. `rewrite` gets a `JsonStrings`, which marks the keys.
    """
    try:
        value = json.loads(
            raw,
            object_pairs_hook=_unique_keys,
            parse_int=lambda t: _Number(t, int(t)),
            parse_float=lambda t: _Number(t, float(t)),
        )
    except (ValueError, RecursionError):
        return rewrite([raw])[0]
    strings: list[str] = []
    key_at: set[int] = set()

    def collect(node: Any) -> None:
        if isinstance(node, str):
            strings.append(node)
        elif isinstance(node, _Number):
            strings.append(node.text)
        elif isinstance(node, dict):
            for k, v in node.items():
                key_at.add(len(strings))
                strings.append(k)
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    try:
        collect(value)
    except RecursionError:
        return rewrite([raw])[0]
    if not strings:
        return raw
    new = rewrite(JsonStrings(strings, key_at))
    if new == strings:
        return raw
    replacements = iter(new)

    def rebuild(node: Any) -> Any:
        if isinstance(node, str):
            return next(replacements)
        if isinstance(node, _Number):
            checked = next(replacements)
            return node.value if checked == node.text else checked
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for v in node.values():
                key = base = next(replacements)
                n = 1
                while key in out:
                    n += 1
                    key = f"{base} ({n})"
                out[key] = rebuild(v)
            return out
        if isinstance(node, list):
            return [rebuild(v) for v in node]
        return node

    return json.dumps(rebuild(value), ensure_ascii=False)
