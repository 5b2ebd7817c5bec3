"""Hong Kong bank account numbers: 3-digit bank code, 3-digit branch code, 6-9 digit account.

HK banks publish no checksum, so evidence comes from structure: a registered bank code in front,
or a bank's own written layout (HSBC and Hang Seng 3-6-3, BOCHK and Standard Chartered 3-1-6-1).
A bare run of digits needs a context word.
"""

from __future__ import annotations

from finsandbox.guards.pii.recognizer import Pattern, Recognizer, recogniser

# Clearing codes of the main retail banks (HKICL); 250/006 Citibank, 387-395 the virtual banks.
HK_BANK_CODES = {
    "003": "Standard Chartered", "004": "HSBC", "009": "CCB (Asia)", "012": "Bank of China (HK)",
    "015": "Bank of East Asia", "016": "DBS", "018": "China CITIC", "020": "CMB Wing Lung",
    "024": "Hang Seng", "025": "Shanghai Commercial", "028": "Public Bank", "039": "Chiyu",
    "040": "Dah Sing", "041": "Chong Hing", "043": "Nanyang Commercial", "072": "ICBC (Asia)",
    "128": "Fubon", "006": "Citibank N.A.", "250": "Citibank (HK)", "387": "ZA Bank", "388": "livi",
    "389": "Mox", "390": "WeLab", "391": "Fusion", "392": "PAOB", "393": "Ant Bank", "395": "Airstar",
}  # fmt: skip

# Written layouts of the account part (branch + account), by bank.
HK_ACCOUNT_LAYOUTS = {
    "004": (3, 6, 3),
    "024": (3, 6, 3),
    "012": (3, 1, 6, 1),
    "003": (3, 1, 6, 1),
    "015": (3, 2, 5, 2),
    "072": (3, 3, 3, 3),
}

_BEFORE = r"(?<!\d[ -])(?<![\w+/.-])"
_AFTER = r"(?![ -]?\d)"
_CODES = "|".join(sorted(HK_BANK_CODES))


def _layout_regex(groups: tuple[int, ...]) -> str:
    return "-".join(rf"\d{{{n}}}" for n in groups)


_LAYOUTS = "|".join(sorted({_layout_regex(g) for g in HK_ACCOUNT_LAYOUTS.values()}))


@recogniser("HK_BANK_ACCOUNT")
class HKBankAccountRecognizer(Recognizer):
    entity_type = "HK_BANK_ACCOUNT"
    precedence = 50
    patterns = (
        Pattern(
            "hk_account_with_bank_code",
            _BEFORE + rf"(?:{_CODES})[ -]\d{{3}}(?:[ -]\d{{1,9}}){{1,3}}" + _AFTER,
            0.65,
        ),
        Pattern("hk_account_layout", _BEFORE + rf"(?:{_LAYOUTS})" + _AFTER, 0.5),
        Pattern("hk_account_compact", _BEFORE + r"\d{9,12}" + _AFTER, 0.2),
    )
    context = (
        "account", "a/c", "acct", "bank", "hsbc", "hang seng", "boc", "bochk", "standard chartered",
        "citibank", "fps", "deposit", "transfer", "戶口", "賬戶", "帳戶",
    )  # fmt: skip

    def validate(self, value: str) -> bool:
        digit_count = sum(ch.isdigit() for ch in value)
        return 9 <= digit_count <= 16 and len(set(value.replace("-", "").replace(" ", ""))) > 1
