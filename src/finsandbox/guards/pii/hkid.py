"""Hong Kong identity card number: one or two letters, six digits, a mod-11 check digit (0-9 or A)."""

from __future__ import annotations

import re

from finsandbox.guards.pii.recognizer import Pattern, Recognizer, recogniser

_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)


def hkid_check_digit(prefix: str, body: str) -> str:
    """Check digit for 1-2 letters and six digits; a lone letter is padded with a space (value 36)."""
    chars = prefix.upper().rjust(2)
    values = [36 if c == " " else ord(c) - ord("A") + 10 for c in chars] + [int(d) for d in body]
    remainder = sum(w * v for w, v in zip(_WEIGHTS, values, strict=True)) % 11
    check = (11 - remainder) % 11
    return "A" if check == 10 else str(check)


@recogniser("HKID")
class HKIDRecognizer(Recognizer):
    entity_type = "HKID"
    precedence = 10
    requires = r"\d"  # every pattern holds digits
    patterns = (
        # Typed in a chat, the letters are often lower case ("a123456(3)"); the check digit still holds.
        Pattern("hkid_parenthesised", r"(?<![A-Za-z0-9])([A-Za-z]{1,2})(\d{6})\s?\(([0-9Aa])\)", 0.65),
        Pattern("hkid_compact", r"(?<![A-Za-z0-9])([A-Za-z]{1,2})(\d{6})([0-9Aa])(?![A-Za-z0-9])", 0.55),
    )
    context = ("hkid", "hk id", "identity card", "id card", "i.d. card", "身份證", "id no", "id number")

    def validate(self, value: str) -> bool:
        match = re.fullmatch(r"([A-Z]{1,2})(\d{6})\s?\(?([0-9A])\)?", value.upper())
        return bool(match) and hkid_check_digit(match.group(1), match.group(2)) == match.group(3)
