"""Hong Kong phone numbers: +852 / (852) / 00852 prefixed, or local 8-digit numbers.

Local numbers start with 2-3 (fixed line) or 4-9 (mobile and pager ranges). An unbroken 8-digit
number is too ambiguous (amounts, references) to report without a context word.
"""

from __future__ import annotations

from finsandbox.guards.pii.date_of_birth import parse_date
from finsandbox.guards.pii.recognizer import Pattern, Recognizer, recogniser

# Not part of a longer digit run such as a card number written in groups.
_BEFORE = r"(?<!\d[ -])(?<![A-Za-z]-)(?<![\w+/.])"
_AFTER = r"(?![ -]?\d)"


@recogniser("HK_PHONE")
class HKPhoneRecognizer(Recognizer):
    entity_type = "HK_PHONE"
    precedence = 60
    patterns = (
        Pattern(
            "hk_phone_intl",
            _BEFORE + r"(?:\+\s?852|\(852\)|00852|\+\(852\))[ -]?[2-9]\d{3}[ -]?\d{4}" + _AFTER,
            0.65,
        ),
        Pattern("hk_phone_grouped", _BEFORE + r"[2-9]\d{3}[ -]\d{4}" + _AFTER, 0.5),
        Pattern("hk_phone_compact", _BEFORE + r"[2-9]\d{7}" + _AFTER, 0.3),
    )

    def validate(self, value: str) -> bool:
        # An unbroken 8-digit run that reads as a date (20240311) is far likelier a date or reference.
        return not (
            value.isdigit()
            and value[:2] in ("19", "20")
            and parse_date(value[:4] + "-" + value[4:6] + "-" + value[6:]) is not None
        )

    context = (
        "phone",
        "tel",
        "telephone",
        "mobile",
        "cell",
        "call",
        "contact",
        "whatsapp",
        "電話",
        "手機",
        "fax",
        "sms",
    )
