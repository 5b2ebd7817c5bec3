"""A labelled corpus of Hong Kong banking texts for measuring PII detection, independent of `fake.py`.

Written from how banks and customers actually print personal data (chat turns, e-mails, CSV
exports, Markdown tables, KYC forms, call notes), not from what the recognisers look for. Every
text also carries *harmless* numbers (reference numbers, amounts, dates, branch codes, order and
ticket numbers, OTP codes) that a detector must leave alone: recall bought by redacting every
number shows up as over-redaction.

Two splits, with different seeds AND different templates and name lists:

* ``tune``: what recognisers may be developed against;
* ``heldout``: never looked at while tuning (only its aggregate figures are read, in
  ``bench/guards.py``). Its templates use other phrasings, layouts and cue words, and its names
  draw on given names that appear in no list inside ``finsandbox``.

Values pass their real checksums (HKID, Luhn, IBAN, mainland ID), so nothing is found by accident.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field
from datetime import date, timedelta

from finsandbox.guards.pii.hkid import hkid_check_digit
from finsandbox.guards.pii.iban import IBAN_LENGTHS, iban_check_digits
from finsandbox.guards.pii.mainland_id import mainland_id_check_digit
from finsandbox.guards.pii.payment_card import luhn_check_digit

ENTITY_TYPES = (
    "PERSON", "HKID", "HK_PHONE", "HK_BANK_ACCOUNT", "PASSPORT", "SWIFT_BIC", "EMAIL",
    "PAYMENT_CARD", "IBAN", "MAINLAND_ID", "DATE_OF_BIRTH",
)  # fmt: skip


@dataclass
class Item:
    """One text: gold PII spans and harmless spans, both as (start, end, kind)."""

    text: str
    form: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    harmless: list[tuple[int, int, str]] = field(default_factory=list)


# -- vocabularies (split by purpose: the held-out names are not in any list inside finsandbox) --

_SURNAMES_TUNE = [
    "Chan",
    "Wong",
    "Lee",
    "Cheung",
    "Lau",
    "Ng",
    "Ho",
    "Leung",
    "Lam",
    "Tsang",
    "Yip",
    "Chow",
    "Tang",
    "Kwok",
    "Mak",
    "Yeung",
    "Fung",
    "Choi",
]
_SURNAMES_HELDOUT = [
    "Chu",
    "Law",
    "Tse",
    "Poon",
    "Siu",
    "Ma",
    "Hui",
    "Kwan",
    "Lai",
    "Yu",
    "Cheng",
    "Lo",
    "Tam",
    "Kwong",
    "Yuen",
    "Szeto",
    "Au-Yeung",
    "Ko",
]
_GIVEN_TUNE = [
    "Tai Man",
    "Siu Ming",
    "Ka Yan",
    "Wing Sze",
    "Chi Keung",
    "Mei Ling",
    "Ka Ho",
    "Hoi Yan",
    "Kin Wai",
    "Yuk Lan",
]
_GIVEN_HELDOUT = [
    "Hiu Tung",
    "Tsz Ching",
    "Wai Kit",
    "Sum Yi",
    "Pui Shan",
    "Chun Hei",
    "Lok Yin",
    "Ngai Man",
    "Suet Ying",
    "Kwun Ho",
]
_ENGLISH_TUNE = [
    "Peter",
    "Mary",
    "Jason",
    "Karen",
    "Michael",
    "Emily",
    "Kelvin",
    "Winnie",
    "Raymond",
    "Joyce",
]
_ENGLISH_HELDOUT = [
    "Brandon",
    "Cheryl",
    "Desmond",
    "Fanny",
    "Gordon",
    "Hazel",
    "Ivan",
    "Jolene",
    "Marcus",
    "Rosanna",
]
_WESTERN_TUNE = ["Sarah Jenkins", "Thomas Whitfield", "Oliver Brennan", "Laura Castellano"]
_WESTERN_HELDOUT = ["Rajesh Malhotra", "Hannah Okafor", "Daniel Ferreira", "Priya Raman", "Lucas Moreau"]
_CHINESE_SURNAMES = "陳黃李張何林梁劉吳王鄭楊"
_CHINESE_GIVEN = [
    "大文",
    "小明",
    "嘉欣",
    "志強",
    "美玲",
    "家豪",
    "凱欣",
    "偉明",
    "玉蘭",
    "俊傑",
    "詠詩",
    "浩然",
]
_BICS = (
    "HSBCHKHHHKH", "HASEHKHH", "BKCHHKHH", "SCBLHKHH", "BEASHKHH", "DHBKHKHH", "DEUTDEFF", "BOFAUS3N",
    "CHASUS33", "MHCBJPJT", "SCBLSGSG", "BKCHCNBJ", "CITIUS33", "BARCGB22", "ANZBAU3M", "ICBKCNBJ",
)  # fmt: skip
_BANK_CODES = [
    "003",
    "004",
    "009",
    "012",
    "015",
    "016",
    "018",
    "020",
    "024",
    "025",
    "028",
    "035",
    "039",
    "040",
    "041",
    "043",
    "072",
    "128",
    "250",
    "382",
    "387",
    "388",
    "389",
    "390",
    "391",
    "392",
    "393",
    "395",
    "005",
    "007",
    "022",
    "027",
    "054",
    "055",
    "056",
    "063",
    "071",
    "074",
    "109",
    "118",
    "152",
    "185",
    "198",
    "214",
    "221",
    "222",
    "229",
    "238",
]
_DOMAINS = ("gmail.com", "yahoo.com.hk", "netvigator.com", "outlook.com", "biznetvigator.com", "hkbn.net")


class Values:
    """Valid values in the many ways they are written; `split` picks the name vocabulary."""

    def __init__(self, seed: int, split: str) -> None:
        self.rng = random.Random(seed)
        heldout = split == "heldout"
        self.surnames = _SURNAMES_HELDOUT if heldout else _SURNAMES_TUNE
        self.given = _GIVEN_HELDOUT if heldout else _GIVEN_TUNE
        self.english = _ENGLISH_HELDOUT if heldout else _ENGLISH_TUNE
        self.western = _WESTERN_HELDOUT if heldout else _WESTERN_TUNE

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def pick(self, options: list[str] | tuple[str, ...] | str) -> str:
        return self.rng.choice(options)

    # names
    def person(self, form: str | None = None) -> str:
        surname, given, english = self.pick(self.surnames), self.pick(self.given), self.pick(self.english)
        form = form or self.pick(
            ["hk", "caps", "title", "hyphen", "english", "english_hk", "chinese", "western", "comma"]
        )
        a, b = given.split()
        return {
            "hk": f"{surname.upper()} {given}",
            "caps": f"{surname} {given}".upper(),
            "title": f"{surname} {given}",
            "hyphen": f"{surname} {a}-{b.lower()}",
            "english": f"{english} {surname}",
            "english_hk": f"{english} {surname.upper()} {given}",
            "chinese": self.pick(_CHINESE_SURNAMES) + self.pick(_CHINESE_GIVEN),
            "western": self.pick(self.western),
            "comma": f"{surname.upper()}, {given}",
        }[form]

    def hkid(self) -> str:
        prefix = "".join(self.pick(string.ascii_uppercase) for _ in range(self.pick([1, 1, 1, 2])))
        body = self.digits(6)
        check = hkid_check_digit(prefix, body)
        return self.pick([f"{prefix}{body}({check})", f"{prefix}{body}{check}", f"{prefix}{body} ({check})"])

    def phone(self, form: str | None = None) -> str:
        n = self.pick("2356789") + self.digits(7)
        form = form or self.pick(
            ["+852 sp", "+852", "852 sp", "852", "(852)", "(852)sp", "sp", "dash", "bare"]
        )
        return {
            "+852 sp": f"+852 {n[:4]} {n[4:]}",
            "+852": f"+852{n}",
            "852 sp": f"852 {n[:4]} {n[4:]}",
            "852": f"852{n}",
            "(852)": f"(852){n}",
            "(852)sp": f"(852) {n[:4]} {n[4:]}",
            "sp": f"{n[:4]} {n[4:]}",
            "dash": f"{n[:4]}-{n[4:]}",
            "bare": n,
        }[form]

    def account(self, form: str | None = None) -> str:
        code = self.pick(_BANK_CODES)
        branch = self.digits(3)
        # The account part after the branch is 6 to 9 digits, with or without a 3-digit suffix.
        number, suffix = self.pick(
            [(self.digits(6), self.digits(3)), (self.digits(self.pick([7, 8, 9])), "")]
        )
        form = form or self.pick(["dash", "space", "compact", "nocode", "nocode_compact", "bochk"])
        tail = f"-{suffix}" if suffix else ""
        return {
            "dash": f"{code}-{branch}-{number}{tail}",
            "space": f"{code} {branch} {number}{tail.replace('-', ' ')}",
            "compact": f"{code}{branch}{number}{suffix}",
            "nocode": f"{branch}-{self.digits(6)}-{self.digits(3)}",
            "nocode_compact": f"{branch}{self.digits(6)}{self.digits(3)}",
            "bochk": f"012-{branch}-{self.digits(1)}-{self.digits(6)}-{self.digits(1)}",
        }[form]

    def passport(self) -> str:
        letters = string.ascii_uppercase
        return self.pick(
            [
                self.pick("HK") + self.digits(8),  # HKSAR
                "E" + self.digits(8),  # mainland ordinary
                "E" + self.pick("ABCDEFGH") + self.digits(7),  # mainland since 2012
                "G" + self.digits(8),
                self.pick("SEKP") + self.digits(7) + self.pick(letters),  # SG / PH style
                self.pick(["PA", "PB", "RA"]) + self.digits(7),  # AU style
                self.pick("123456789") + self.digits(8),  # US / UK 9 digits
            ]
        )

    def swift(self) -> str:
        return self.pick(_BICS)

    def email(self) -> str:
        local = f"{self.pick(self.english).lower()}.{self.pick(self.surnames).lower().replace('-', '')}"
        return f"{local}{self.pick(['', self.digits(2)])}@{self.pick(_DOMAINS)}"

    def card(self) -> str:
        prefix = self.pick(["4", "51", "53", "55", "2223", "62", "35"])
        partial = prefix + self.digits(15 - len(prefix))
        number = partial + luhn_check_digit(partial)
        return self.pick(
            [
                " ".join(number[i : i + 4] for i in range(0, 16, 4)),
                number,
                "-".join(number[i : i + 4] for i in range(0, 16, 4)),
            ]
        )

    def iban(self) -> str:
        country = self.pick(["GB", "DE", "FR", "CH", "NL"])
        length = IBAN_LENGTHS[country]
        if country in ("GB", "NL"):
            bban = "".join(self.pick(string.ascii_uppercase) for _ in range(4)) + self.digits(length - 8)
        else:
            bban = self.digits(length - 4)
        iban = country + iban_check_digits(country, bban) + bban
        return self.pick([iban, " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))])

    def birth(self) -> date:
        return date(1945, 1, 1) + timedelta(days=self.rng.randrange(365 * 60))

    def mainland_id(self) -> str:
        first17 = self.pick("1234") + self.digits(5) + self.birth().strftime("%Y%m%d") + self.digits(3)
        return first17 + mainland_id_check_digit(first17)

    def dob(self) -> str:
        born = self.birth()
        return self.pick(
            [
                born.strftime("%d/%m/%Y"),
                born.isoformat(),
                f"{born.day} {born.strftime('%B %Y')}",
                born.strftime("%d-%b-%Y"),
            ]
        )

    # harmless numbers: things a redactor must leave alone
    def harmless(self, kind: str) -> str:
        today = date(2024, 1, 1) + timedelta(days=self.rng.randrange(700))
        return {
            "REF": self.pick(
                [f"REF{today:%Y%m%d}-{self.digits(4)}", f"CMP-{today:%Y}-{self.digits(4)}", self.digits(8)]
            ),
            "TXN": f"{today:%Y%m%d}{self.digits(6)}",
            "AMOUNT": self.pick(
                [
                    f"HKD {self.rng.randrange(100, 999999):,}.{self.digits(2)}",
                    f"HK${self.rng.randrange(1000, 9999999):,}",
                    f"USD {self.rng.randrange(10, 99999):,}",
                ]
            ),
            "DATE": self.pick([today.isoformat(), today.strftime("%d/%m/%Y"), today.strftime("%d %b %Y")]),
            "BRANCH": self.digits(3),
            "ORDER": self.pick("2356789") + self.digits(7),
            "TICKET": f"{self.digits(4)} {self.digits(4)}",
            "OTP": self.digits(6),
            "TIME": f"{self.rng.randrange(8, 19)}:{self.rng.randrange(60):02d}",
            "RATE": f"{self.rng.randrange(1, 9)}.{self.digits(2)}%",
            "LAST4": self.digits(4),
            "POLICY": self.digits(10),
            "STAFF": self.digits(6),
        }[kind]

    def value(self, kind: str, form: str | None) -> str:
        if kind == "PERSON":
            return self.person(form)
        if kind == "HK_PHONE":
            return self.phone(form)
        if kind == "HK_BANK_ACCOUNT":
            return self.account(form)
        method = {
            "HKID": self.hkid, "PASSPORT": self.passport, "SWIFT_BIC": self.swift, "EMAIL": self.email,
            "PAYMENT_CARD": self.card, "IBAN": self.iban, "MAINLAND_ID": self.mainland_id,
            "DATE_OF_BIRTH": self.dob,
        }[kind]  # fmt: skip
        return method()


# -- templates ---------------------------------------------------------------------------------
# {TYPE} or {TYPE:form} plants a labelled value; {~KIND} plants a harmless number.
# Templates name their form (chat, email, csv, table, kyc, note) as their first word before "|".

TUNE_TEMPLATES = (
    "chat|Hi, I'm {PERSON:hk}. My HKID is {HKID} and my mobile is {HK_PHONE}. Ref {~REF}.",
    "chat|Please transfer {~AMOUNT} to account {HK_BANK_ACCOUNT}, beneficiary {PERSON}.",
    "chat|I lost my card {PAYMENT_CARD}, please freeze it. You can reach me at {EMAIL}.",
    "chat|My name is {PERSON:english}, DOB {DATE_OF_BIRTH}, passport {PASSPORT}.",
    "chat|For the wire use IBAN {IBAN} and SWIFT {SWIFT_BIC}. Value date {~DATE}.",
    "chat|You can call me on {HK_PHONE:852 sp} after {~TIME}, thanks.",
    "chat|The OTP was sent to {HK_PHONE:bare} but I never received code {~OTP}.",
    "chat|Someone called from {HK_PHONE:bare} claiming to be from the bank about order {~ORDER}.",
    "chat|Please contact us about reference {~ORDER} at your convenience.",
    "chat|My account {HK_BANK_ACCOUNT:compact} was debited {~AMOUNT} on {~DATE}.",
    "chat|{PERSON:caps} here, card ending {~LAST4}, my phone is {HK_PHONE:(852)sp}.",
    "chat|客戶{PERSON:chinese}先生致電查詢，參考編號 {~REF}。",
    "email|Dear {PERSON:hk},\nYour application {~REF} for {~AMOUNT} was approved on {~DATE}. "
    "Funds go to a/c {HK_BANK_ACCOUNT:dash}.\nRegards, {PERSON:english}",
    "email|Dear Sir/Madam,\nPlease remit {~AMOUNT} by telegraphic transfer. The SWIFT code of the "
    "receiving bank in Frankfurt, as confirmed by our treasury team last week, is {SWIFT_BIC}. "
    "Our ticket no. is {~TICKET}.",
    "csv|customer_name,hkid,mobile,account_no,balance\n"
    '{PERSON:hk},{HKID},{HK_PHONE:bare},{HK_BANK_ACCOUNT:nocode},"{~AMOUNT}"\n'
    '{PERSON:title},{HKID},{HK_PHONE:bare},{HK_BANK_ACCOUNT:dash},"{~AMOUNT}"\n',
    "table|| Name | Passport | Branch |\n|---|---|---|\n| {PERSON:western} | {PASSPORT} | {~BRANCH} |\n"
    "| {PERSON:english_hk} | {PASSPORT} | {~BRANCH} |\n",
    "kyc|KYC FORM\nName: {PERSON:caps}\nHKID No.: {HKID}\nDate of Birth: {DATE_OF_BIRTH}\n"
    "Mobile: {HK_PHONE:+852 sp}\nEmail: {EMAIL}\nPassport: {PASSPORT}\nBranch code: {~BRANCH}\n",
    "note|Call note {~DATE} {~TIME}: {PERSON:title} asked about the {~RATE} promotion; "
    "mainland ID {MAINLAND_ID} on file. Staff no. {~STAFF}.",
    "note|Met {PERSON:western} at the Central branch with {PERSON:english}. Policy {~POLICY} renewed.",
    "chat|Transaction {~TXN} failed; please retry to {HK_BANK_ACCOUNT:space}.",
)

HELDOUT_TEMPLATES = (
    "chat|hello, this is {PERSON:hk} speaking, my id card is {HKID}, pls call back {HK_PHONE:+852}",
    "chat|Can u send the statement to {EMAIL}? Acct {HK_BANK_ACCOUNT:bochk}, amt {~AMOUNT}.",
    "chat|got a text from {HK_PHONE:852} asking for my PIN, is it a scam? case {~REF}",
    "chat|I dialled {HK_PHONE:bare} yesterday at {~TIME} but nobody answered.",
    "chat|WhatsApp me at {HK_PHONE:sp} or {HK_PHONE:(852)}.",
    "chat|{PERSON:english_hk} wants to add {PERSON:hyphen} as a joint holder, see ticket {~TICKET}.",
    "chat|Our invoice {~ORDER} for {~AMOUNT} is overdue since {~DATE}.",
    "chat|Payee: {PERSON:comma}; bank acc no {HK_BANK_ACCOUNT:nocode_compact}",
    "chat|旅客{PERSON:chinese}持護照 {PASSPORT} 入境，聯絡電話 {HK_PHONE:sp}。",
    "email|Hi team,\n{PERSON:western} (passport {PASSPORT}) opened a USD account today. Please set up "
    "standing instructions to {HK_BANK_ACCOUNT:dash}. Rate agreed: {~RATE}.\nThanks,\n{PERSON:title}",
    "email|To whom it may concern,\nThe beneficiary bank identifier, which the client only supplied "
    "after several reminders from our operations staff, is {SWIFT_BIC}; IBAN {IBAN}. "
    "Reference {~REF}, total {~AMOUNT}.",
    "csv|Account Holder|Contact Number|Account|Last Txn\n"
    "{PERSON:caps}|{HK_PHONE:dash}|{HK_BANK_ACCOUNT:space}|{~DATE}\n"
    "{PERSON:english}|{HK_PHONE:bare}|{HK_BANK_ACCOUNT:compact}|{~DATE}\n",
    'csv|"full_name","dob","id_no","branch"\n"{PERSON:comma}","{DATE_OF_BIRTH}","{HKID}","{~BRANCH}"\n',
    "table|Beneficiary\tBank\tAccount number\tAmount\n"
    "{PERSON:hk}\t{SWIFT_BIC}\t{HK_BANK_ACCOUNT:dash}\t{~AMOUNT}\n",
    "kyc|APPLICANT DETAILS\nSurname / Given names: {PERSON:hk}\nTravel document no: {PASSPORT}\n"
    "Born: {DATE_OF_BIRTH}\nPRC ID: {MAINLAND_ID}\nTel (home): {HK_PHONE:(852)sp}\n"
    "Application ref: {~REF}\n",
    "kyc|Cardholder {PERSON:english} — card {PAYMENT_CARD}, exp 09/27, limit {~AMOUNT}; staff {~STAFF}.",
    "note|Customer {PERSON:title} visited Sha Tin branch {~BRANCH} on {~DATE} re policy {~POLICY}; "
    "OTP {~OTP} verified.",
    "note|Spoke to {PERSON:western}; she will deposit {~AMOUNT} into {HK_BANK_ACCOUNT:compact} "
    "before {~TIME}.",
    "chat|My new number is {HK_PHONE:852 sp}, old one {HK_PHONE:dash}. Order {~ORDER} still pending.",
    "note|Transaction ID {~TXN} flagged; counterparty {PERSON:caps}, HKID {HKID}.",
)

_SLOT = re.compile(r"\{(~?)([A-Z_]+)(?::([^}]+))?\}")


def fill(template: str, values: Values) -> Item:
    form, _, body = template.partition("|")
    item = Item("", form)
    parts: list[str] = []
    pos = 0
    cursor = 0
    for match in _SLOT.finditer(body):
        literal = body[cursor : match.start()]
        parts.append(literal)
        pos += len(literal)
        harmless, kind, variant = match.group(1), match.group(2), match.group(3)
        value = values.harmless(kind) if harmless else values.value(kind, variant)
        (item.harmless if harmless else item.spans).append((pos, pos + len(value), kind))
        parts.append(value)
        pos += len(value)
        cursor = match.end()
    parts.append(body[cursor:])
    item.text = "".join(parts)
    return item


def corpus(split: str, n: int = 400) -> list[Item]:
    """`n` texts of one split; the seeds differ between the splits as well as the templates."""
    if split not in ("tune", "heldout"):
        raise ValueError(f"unknown split {split!r} (tune, heldout)")
    seed = 20240311 if split == "tune" else 99173
    templates = TUNE_TEMPLATES if split == "tune" else HELDOUT_TEMPLATES
    values = Values(seed, split)
    rng = random.Random(seed + 1)
    return [fill(rng.choice(templates), values) for _ in range(n)]
