"""Hong Kong phone numbers: with +852, 852, (852) or 00852 in front, or local 8-digit numbers.

Local numbers start with 2-3 (fixed line) or 4-9 (mobile and pager ranges). A number written in
two groups of four ("9123 4567") or with the country code is a phone on its own; an unbroken run
of 8 digits is as often an amount or a reference, so it needs a calling cue in its sentence
("called from", "OTP sent to", "WhatsApp"), and a closer "reference" or "order" cancels the cue.
"""

from __future__ import annotations

from finsandbox.guards.pii.date_of_birth import parse_date
from finsandbox.guards.pii.recognizer import Pattern, Recognizer, recogniser

# Not part of a longer digit run such as a card number written in groups.
_BEFORE = r"(?<!\d[ -])(?<![A-Za-z]-)(?<![\w+/.])"
_AFTER = r"(?![ -]?\d)(?!\.\d)"
_LOCAL = r"[2-9]\d{3}[ -]?\d{4}"


@recogniser("HK_PHONE")
class HKPhoneRecognizer(Recognizer):
    entity_type = "HK_PHONE"
    precedence = 60
    requires = r"\d"  # every pattern holds digits
    patterns = (
        Pattern(
            "hk_phone_intl",
            _BEFORE + r"(?:\+\s?852|\+?\(852\)|00852|\+\(852\))[ -]?" + _LOCAL + _AFTER,
            0.65,
        ),
        Pattern("hk_phone_852", _BEFORE + r"852[ -]" + _LOCAL + _AFTER, 0.55),
        Pattern("hk_phone_852_compact", _BEFORE + r"852[2-9]\d{7}" + _AFTER, 0.3),
        Pattern("hk_phone_grouped", _BEFORE + r"[2-9]\d{3}[ -]\d{4}" + _AFTER, 0.5),
        Pattern("hk_phone_compact", _BEFORE + r"[2-9]\d{7}" + _AFTER, 0.3),
    )
    context = (
        "phone", "phone no", "tel", "telephone", "mobile", "mob", "cell", "call", "called", "calling",
        "call back", "callback", "contact", "contact number", "whatsapp", "wechat", "signal", "text me",
        "texted", "sms", "otp", "one-time password", "sent to", "reach", "dial", "dialled", "dialed",
        "mobile no", "hotline", "fax", "ring me", "電話", "手機", "聯絡", "联系",
    )  # fmt: skip
    anti_context = (
        "ref", "reference", "ref no", "order", "invoice", "case", "case no", "ticket", "txn",
        "transaction", "tracking", "receipt", "policy", "claim", "account", "a/c", "acct", "amount",
        "hkd", "usd", "rmb", "balance", "branch code", "id no", "hkid", "passport", "card", "batch",
        "serial", "customer no", "customer number", "member no", "staff no", "employee no",
    )  # fmt: skip

    def validate(self, value: str) -> bool:
        # An unbroken 8-digit run that reads as a date (20240311) is far likelier a date or reference.
        return not (
            value.isdigit()
            and value[:2] in ("19", "20")
            and parse_date(value[:4] + "-" + value[4:6] + "-" + value[6:]) is not None
        )
