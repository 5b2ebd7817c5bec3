"""International Bank Account Number: country code, two check digits, BBAN; ISO 13616 mod-97."""

from __future__ import annotations

import re

from finsandbox.guards.pii.recognizer import Pattern, Recognizer, recogniser

# Lengths per country (SWIFT IBAN registry) for the countries HK customers most often bank with.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BH": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PT": 25, "QA": 29,
    "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26, "UA": 29, "VG": 24,
}  # fmt: skip


def iban_mod97(iban: str) -> int:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97


def iban_check_digits(country: str, bban: str) -> str:
    return f"{98 - iban_mod97(country + '00' + bban):02d}"


@recogniser("IBAN")
class IBANRecognizer(Recognizer):
    entity_type = "IBAN"
    precedence = 40
    requires = r"\d"  # every pattern holds digits
    patterns = (
        Pattern(
            "iban_grouped",
            r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?(?![A-Za-z0-9])",
            0.65,
        ),
        Pattern("iban_compact", r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}[A-Z0-9]{11,30}(?![A-Za-z0-9])", 0.65),
    )
    context = ("iban", "account", "transfer", "beneficiary", "remit", "wire")

    def validate(self, value: str) -> bool:
        iban = value.replace(" ", "")
        expected = IBAN_LENGTHS.get(iban[:2])
        return (
            expected == len(iban) and re.fullmatch(r"[A-Z0-9]+", iban) is not None and iban_mod97(iban) == 1
        )
