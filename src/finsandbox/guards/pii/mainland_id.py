"""Mainland China resident identity number: 18 characters, birth date inside, ISO 7064 MOD 11-2 check."""

from __future__ import annotations

from datetime import date

from finsandbox.guards.pii.recognizer import Pattern, Recognizer, recogniser

_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK = "10X98765432"


def mainland_id_check_digit(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def _valid_birth_date(value: str) -> bool:
    try:
        born = date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


@recogniser("MAINLAND_ID")
class MainlandIDRecognizer(Recognizer):
    entity_type = "MAINLAND_ID"
    precedence = 20
    requires = r"\d"  # every pattern holds digits
    patterns = (
        Pattern("mainland_id", r"(?<![0-9A-Za-z])[1-8]\d{5}(?:19|20)\d{9}[0-9Xx](?![0-9A-Za-z])", 0.65),
    )
    context = (
        "resident id",
        "identity card",
        "id card",
        "身份证",
        "身份證",
        "prc id",
        "mainland id",
        "id number",
    )

    def validate(self, value: str) -> bool:
        value = value.upper()
        return _valid_birth_date(value[6:14]) and mainland_id_check_digit(value[:17]) == value[17]
