"""Passport numbers: HKSAR, mainland China, and the common foreign layouts seen in HK onboarding.

Passport numbers have no public checksum and a generic one looks like any reference code, so only
the HKSAR and mainland forms score on their own; the rest (letter + 7 digits + letter as in
Singapore or the Philippines, 2 letters + 7 digits as in Australia or Canada, 9 digits as in the
US and UK) need "passport" or "travel document" in their sentence.
"""

from __future__ import annotations

from finsandbox.guards.pii.recognizer import Pattern, Recognizer, recogniser

_B = r"(?<![A-Za-z0-9])"
_A = r"(?![A-Za-z0-9])"


@recogniser("PASSPORT")
class PassportRecognizer(Recognizer):
    entity_type = "PASSPORT"
    precedence = 90
    requires = r"\d"  # every pattern holds digits
    patterns = (
        Pattern("hksar_passport", _B + r"(?:[HK]\d{8}|[HK][A-Z]\d{7})" + _A, 0.45),
        Pattern("prc_passport", _B + r"(?:[EG]\d{8}|E[A-HJ-NP-Z]\d{7})" + _A, 0.45),
        Pattern("letter_digits_letter", _B + r"[A-Z]\d{7}[A-Z]" + _A, 0.3),
        Pattern("generic_passport", _B + r"[A-Z]{1,2}\d{6,8}" + _A, 0.15),
        Pattern("numeric_passport", _B + r"\d{9}" + _A, 0.2),
    )
    context = (
        "passport", "passports", "passport no", "passport number", "travel document", "travel doc",
        "document number", "護照", "护照", "通行證", "通行证",
    )  # fmt: skip
    anti_context = ("ref", "reference", "order", "invoice", "case", "ticket", "account", "a/c", "policy")
