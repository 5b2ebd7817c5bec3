"""SWIFT/BIC codes: 4-letter bank, ISO country, 2-character location, optional 3-character branch.

Eight capital letters are often just a shouted word, so all-letter codes outside the known HK banks
score low and need a context word; a digit in the location or a branch suffix is stronger evidence.
"""

from __future__ import annotations

from finsandbox.guards.pii.recognizer import Pattern, Recognizer, recogniser

_ISO_TEXT = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW
BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ
FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ
IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH
MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL
PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD
TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
ISO_COUNTRIES = frozenset(_ISO_TEXT.split())

# Bank parts of BICs of the main HK banks: HSBC, Hang Seng, BOCHK, Standard Chartered, BEA, DBS, Citi...
_BANKS_TEXT = "HSBC HASE BKCH SCBL BEAS DHBK CITI ICBK UBHK CIYU DSBA NYCB SCBK IECK WHBK PCBC COMM"
KNOWN_BANKS = frozenset(_BANKS_TEXT.split())


@recogniser("SWIFT_BIC")
class SwiftRecognizer(Recognizer):
    entity_type = "SWIFT_BIC"
    precedence = 70
    patterns = (
        Pattern("bic", r"(?<![A-Za-z0-9])[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?![A-Za-z0-9])", 0.3),
    )
    context = (
        "swift", "bic", "swift code", "swift/bic", "bank code", "beneficiary bank", "correspondent bank",
        "intermediary bank", "wire", "telegraphic transfer", "tt", "remittance", "remit",
    )  # fmt: skip

    def validate(self, value: str) -> bool:
        return (value[4:6] in ISO_COUNTRIES and value[6:8] != "00") or value[:4] in KNOWN_BANKS

    def pattern_score(self, pattern: Pattern, value: str) -> float:
        if value[:4] in KNOWN_BANKS:
            return 0.65
        if any(ch.isdigit() for ch in value[6:]) or len(value) == 11:
            return 0.45
        return pattern.score
