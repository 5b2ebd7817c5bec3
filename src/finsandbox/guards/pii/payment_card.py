"""Payment card numbers: 13-19 digits in the usual groupings, a known issuer prefix, and Luhn."""

from __future__ import annotations

import re

from finsandbox.guards.pii.recognizer import Pattern, Recognizer, digits, recogniser

# Issuer prefixes and the lengths each issues: Visa, Mastercard, Amex, UnionPay, JCB, Discover, Diners.
_ISSUERS = (
    (re.compile(r"4"), (13, 16, 19)),
    (re.compile(r"5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)"), (16,)),
    (re.compile(r"3[47]"), (15,)),
    (re.compile(r"62"), (16, 17, 18, 19)),
    (re.compile(r"35"), (16, 17, 18, 19)),
    (re.compile(r"6011|65"), (16, 19)),
    (re.compile(r"3(?:0[0-5]|[689])"), (14, 16)),
)


def known_issuer(number: str) -> bool:
    return any(prefix.match(number) and len(number) in lengths for prefix, lengths in _ISSUERS)


def luhn_valid(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The digit that makes `partial + digit` pass Luhn."""
    for d in "0123456789":
        if luhn_valid(partial + d):
            return d
    raise AssertionError("unreachable")


# Digit groups that continue an IBAN ("GB64 JQZR 3983 ...") are not a card, even if they pass Luhn.
_NOT_IN_IBAN = r"(?<![A-Z]{2}\d\d )(?<![A-Z]{2}\d\d [A-Z0-9]{4} )"


@recogniser("PAYMENT_CARD")
class PaymentCardRecognizer(Recognizer):
    entity_type = "PAYMENT_CARD"
    precedence = 30
    requires = r"\d"  # every pattern holds digits
    patterns = (
        Pattern("card_grouped", _NOT_IN_IBAN + r"(?<![\w-])\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}(?![\w-])", 0.6),
        Pattern("card_amex", r"(?<![\w-])3[47]\d{2}[ -]\d{6}[ -]\d{5}(?![\w-])", 0.6),
        Pattern("card_compact", r"(?<![\w-])\d{13,19}(?![\w-])", 0.5),
    )
    context = (
        "card",
        "credit",
        "debit",
        "visa",
        "mastercard",
        "amex",
        "unionpay",
        "jcb",
        "cvv",
        "expiry",
        "pan",
    )

    def validate(self, value: str) -> bool:
        number = digits(value)
        return known_issuer(number) and luhn_valid(number)
