"""Hong Kong bank account numbers: 3-digit bank code, 3-digit branch code, 6-10 digit account.

HK banks publish no checksum, so evidence comes from structure: a clearing code of a bank in
Hong Kong in front, or a bank's own written layout (HSBC and Hang Seng 3-6-3, BOCHK and
Standard Chartered 3-1-6-1). Accounts are printed with hyphens, spaces or nothing at all; an
unbroken run of digits (a 14-digit "01287521234567") is too much like a reference number to
report without a banking word in its sentence.
"""

from __future__ import annotations

import re
from datetime import date

from finsandbox.guards.pii.recognizer import Pattern, Recognizer, digits, recogniser

# Clearing codes (HKICL) of the retail banks customers most often quote.
MAJOR_BANK_CODES = {
    "003": "Standard Chartered", "004": "HSBC", "009": "CCB (Asia)", "012": "Bank of China (HK)",
    "015": "Bank of East Asia", "016": "DBS", "018": "China CITIC", "020": "CMB Wing Lung",
    "024": "Hang Seng", "025": "Shanghai Commercial", "028": "Public Bank", "039": "Chiyu",
    "040": "Dah Sing", "041": "Chong Hing", "043": "Nanyang Commercial", "072": "ICBC (Asia)",
    "128": "Fubon", "006": "Citibank N.A.", "250": "Citibank (HK)", "387": "ZA Bank", "388": "livi",
    "389": "Mox", "390": "WeLab", "391": "Fusion", "392": "PAOB", "393": "Ant Bank", "395": "Airstar",
    "035": "OCBC", "022": "OCBC (HK branch)", "382": "Bank of Communications (HK)",
}  # fmt: skip
# Further clearing codes of licensed banks in Hong Kong (foreign bank branches, mainland banks):
# a transfer to any of them is as personal as one to HSBC.
_OTHER_CODES = """
005 007 008 014 026 027 029 030 032 033 038 045 046 047 049 050 052 054 055 056 058 060 061 063 065
066 067 071 074 076 077 080 081 082 085 086 092 097 103 106 109 113 118 119 138 139 145 147 150 151
152 153 161 164 170 178 180 183 185 186 188 198 199 201 202 203 205 206 210 214 220 221 222 227 229
230 233 236 237 238 239 241 242 243 245 248 249 251 254 258 259 260 261 262 263 264 265 266 267 268
269 271 272 273 274 275 276 277 278 307 308 309 316 320 324 337 338 339 342 344 345 353 357 360 361
368 371 372 374 376 377 378 379 380 381 383 384 385 386 394
"""
HK_BANK_CODES: frozenset[str] = frozenset(MAJOR_BANK_CODES) | frozenset(_OTHER_CODES.split())

# Written layouts of the account part (branch + account), by bank.
HK_ACCOUNT_LAYOUTS = {
    "004": (3, 6, 3),
    "024": (3, 6, 3),
    "012": (3, 1, 6, 1),
    "003": (3, 1, 6, 1),
    "015": (3, 2, 5, 2),
    "072": (3, 3, 3, 3),
    "016": (3, 9),
    "250": (3, 8),
    "009": (3, 3, 6),
    "040": (3, 3, 6),
    "387": (12,),
    "388": (12,),
    "389": (12,),
    "390": (12,),
}

_SEP = r"[ -]"
_BEFORE = r"(?<!\d[ -])(?<![\w+/.-])"
_AFTER = r"(?![ -]?\d)(?!\.\d)"
_CODES = "|".join(sorted(HK_BANK_CODES))


def _layout_regex(groups: tuple[int, ...]) -> str:
    return _SEP.join(rf"\d{{{n}}}" for n in groups)


_LAYOUTS = "|".join(sorted({_layout_regex(g) for g in HK_ACCOUNT_LAYOUTS.values() if len(g) > 1}))


def _timestamp(number: str) -> bool:
    """An unbroken 12- or 14-digit run that starts with a plausible date (202403110930) is a time."""
    if len(number) not in (12, 14) or not re.match(r"(?:199|20[0-4])\d", number):
        return False
    try:
        date(int(number[:4]), int(number[4:6]), int(number[6:8]))
    except ValueError:
        return False
    return int(number[8:10]) < 24 and int(number[10:12]) < 60


@recogniser("HK_BANK_ACCOUNT")
class HKBankAccountRecognizer(Recognizer):
    entity_type = "HK_BANK_ACCOUNT"
    precedence = 50
    requires = r"\d"  # every pattern holds digits
    patterns = (
        Pattern(
            "hk_account_with_bank_code",
            _BEFORE + rf"(?:{_CODES}){_SEP}\d{{3}}(?:{_SEP}\d{{1,10}}){{1,3}}" + _AFTER,
            0.65,
        ),
        Pattern("hk_account_code_then_number", _BEFORE + rf"(?:{_CODES}){_SEP}\d{{9,13}}" + _AFTER, 0.5),
        Pattern("hk_account_layout", _BEFORE + rf"(?:{_LAYOUTS})" + _AFTER, 0.5),
        Pattern("hk_account_compact", _BEFORE + r"\d{9,16}" + _AFTER, 0.2),
    )
    context = (
        "account", "accounts", "a/c", "acct", "acc no", "account no", "account number", "bank", "hsbc",
        "hang seng", "boc", "bochk", "standard chartered", "citibank", "dbs", "bea", "fps", "deposit",
        "transfer", "transferred", "credit to", "credited to", "pay to", "paid to", "payee",
        "beneficiary", "remit", "savings", "current", "戶口", "賬戶", "帳戶", "账户", "户口",
    )  # fmt: skip
    anti_context = (
        "ref", "reference", "ref no", "order", "invoice", "case", "ticket", "txn", "transaction id",
        "tracking", "receipt", "policy", "claim", "card", "phone", "mobile", "tel", "hkid", "passport",
        "amount", "hkd", "usd", "rmb", "cny", "branch code",
    )  # fmt: skip

    def validate(self, value: str) -> bool:
        number = digits(value)
        if not 9 <= len(number) <= 16 or len(set(number)) <= 2:
            return False
        return not (value.isdigit() and _timestamp(number))

    def pattern_score(self, pattern: Pattern, value: str) -> float:
        number = digits(value)
        if pattern.name == "hk_account_with_bank_code" and number[:3] not in MAJOR_BANK_CODES:
            return 0.5
        if pattern.name == "hk_account_compact" and number[:3] in HK_BANK_CODES and len(number) >= 12:
            return 0.3  # a bank code in front makes a long run likelier an account, not enough alone
        return pattern.score
