"""Passport numbers: HKSAR (H/K + 8 digits), mainland China (E/G + 8, or E + letter + 7), and others.

Passport numbers have no public checksum and a generic one looks like any reference code, so only
the HKSAR and mainland forms score on their own; the rest need the word "passport" nearby.
"""

from __future__ import annotations

from finsandbox.guards.pii.recognizer import Pattern, Recognizer, recogniser

_B = r"(?<![A-Za-z0-9])"
_A = r"(?![A-Za-z0-9])"


@recogniser("PASSPORT")
class PassportRecognizer(Recognizer):
    entity_type = "PASSPORT"
    precedence = 90
    patterns = (
        Pattern("hksar_passport", _B + r"[HK]\d{8}" + _A, 0.45),
        Pattern("prc_passport", _B + r"(?:[EG]\d{8}|E[A-HJ-NP-Z]\d{7})" + _A, 0.45),
        Pattern("generic_passport", _B + r"[A-Z]{1,2}\d{6,8}" + _A, 0.15),
        Pattern("numeric_passport", _B + r"\d{9}" + _A, 0.2),
    )
    context = ("passport", "travel document", "護照", "护照", "passport no", "document number")
