"""Seeded generator of fake-but-valid Hong Kong PII, and labelled texts for tests and benchmarks.

Every value passes its real checksum (HKID mod 11, Luhn, IBAN mod 97, mainland ID mod 11-2), so a
detector cannot score well by accepting anything digit-shaped; `near_miss` values fail exactly one
check. The evaluation engine reuses this for synthetic customer data.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import date, timedelta

from finsandbox.guards.pii.hkid import hkid_check_digit
from finsandbox.guards.pii.iban import IBAN_LENGTHS, iban_check_digits
from finsandbox.guards.pii.mainland_id import mainland_id_check_digit
from finsandbox.guards.pii.payment_card import luhn_check_digit

_SURNAMES = (
    "Chan Wong Lee Cheung Lau Ng Ho Leung Lam Tsang Yip Chow Tang Kwok Mak Yeung Fung Choi "
    "Lo Tse Poon Siu Ma Hui Kwan Lai Yu Cheng Chu Law"
)
SURNAMES = _SURNAMES.split()
_GIVEN_CANTONESE = (
    "Tai Man|Siu Ming|Ka Yan|Wing Sze|Chi Keung|Mei Ling|Ka Ho|Hoi Yan|Kin Wai|Yuk Lan|Chun Kit|Wai Lun"
)
GIVEN_CANTONESE = _GIVEN_CANTONESE.split("|")
_GIVEN_ENGLISH = (
    "Peter Mary Jason Karen Michael Emily Kelvin Winnie Raymond Joyce Alan Cathy Eric Vivian Anthony "
    "Grace Kenneth Irene Patrick Stephanie"
)
GIVEN_ENGLISH = _GIVEN_ENGLISH.split()
# The account layouts this generator writes: fixed here (not the recogniser's growing table) so
# the generated reference data stays byte-for-byte reproducible.
HK_ACCOUNT_LAYOUTS = {
    "004": (3, 6, 3),
    "024": (3, 6, 3),
    "012": (3, 1, 6, 1),
    "003": (3, 1, 6, 1),
    "015": (3, 2, 5, 2),
    "072": (3, 3, 3, 3),
}
_DOMAINS = ("gmail.com", "yahoo.com.hk", "netvigator.com", "outlook.com", "example.com.hk", "hku.hk")
_BICS = ("HSBCHKHHHKH", "HASEHKHH", "BKCHHKHH", "SCBLHKHH", "BEASHKHH", "DHBKHKHH", "CITIHKHX", "UBHKHKHH")


@dataclass
class Labelled:
    """A text with the gold PII spans planted in it: (start, end, entity_type)."""

    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)


class FakePII:
    """Deterministic for a given seed; one method per entity type, each returning a valid value."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def _digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def hkid(self, *, parenthesised: bool = True) -> str:
        prefix = "".join(
            self.rng.choice(string.ascii_uppercase) for _ in range(self.rng.choice((1, 1, 1, 2)))
        )
        body = self._digits(6)
        check = hkid_check_digit(prefix, body)
        return f"{prefix}{body}({check})" if parenthesised else f"{prefix}{body}{check}"

    def hk_phone(self) -> str:
        number = self.rng.choice("235679") + self._digits(7)
        style = self.rng.randrange(4)
        if style == 0:
            return f"+852 {number[:4]} {number[4:]}"
        if style == 1:
            return f"+852-{number}"
        if style == 2:
            return f"(852) {number[:4]}-{number[4:]}"
        return f"{number[:4]} {number[4:]}"

    def hk_bank_account(self) -> str:
        code = self.rng.choice(sorted(HK_ACCOUNT_LAYOUTS))
        groups = HK_ACCOUNT_LAYOUTS[code]
        layout = "-".join(self._digits(n) for n in groups)
        return f"{code}-{layout}" if self.rng.random() < 0.5 else layout

    def payment_card(self) -> str:
        prefix, length = self.rng.choice(
            (("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("62", 16), ("35", 16))
        )
        partial = prefix + self._digits(length - len(prefix) - 1)
        number = partial + luhn_check_digit(partial)
        if self.rng.random() < 0.7:
            return " ".join(number[i : i + 4] for i in range(0, 16, 4))
        return number

    def iban(self) -> str:
        country = self.rng.choice(("GB", "DE", "FR", "NL", "CH", "IE"))
        length = IBAN_LENGTHS[country]
        if country in ("GB", "IE", "NL"):
            bban = "".join(self.rng.choice(string.ascii_uppercase) for _ in range(4)) + self._digits(
                length - 8
            )
        else:
            bban = self._digits(length - 4)
        iban = country + iban_check_digits(country, bban) + bban
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))

    def swift(self) -> str:
        return self.rng.choice(_BICS)

    def email(self, name: str | None = None) -> str:
        name = name or self.person_name()
        local = ".".join(part.lower() for part in name.split()[:2]) + self._digits(self.rng.choice((0, 2)))
        return f"{local}@{self.rng.choice(_DOMAINS)}"

    def passport(self) -> str:
        return self.rng.choice("HK") + self._digits(8) if self.rng.random() < 0.6 else "E" + self._digits(8)

    def mainland_id(self) -> str:
        born = self.date_of_birth_value()
        first17 = self.rng.choice("1234") + self._digits(5) + born.strftime("%Y%m%d") + self._digits(3)
        return first17 + mainland_id_check_digit(first17)

    def date_of_birth_value(self) -> date:
        return date(1950, 1, 1) + timedelta(days=self.rng.randrange(365 * 55))

    def date_of_birth(self) -> str:
        born = self.date_of_birth_value()
        style = self.rng.randrange(3)
        if style == 0:
            return born.strftime("%d/%m/%Y")
        if style == 1:
            return born.isoformat()
        return f"{born.day} {born.strftime('%B %Y')}"

    def person_name(self) -> str:
        surname = self.rng.choice(SURNAMES)
        style = self.rng.randrange(3)
        if style == 0:
            return f"{self.rng.choice(GIVEN_ENGLISH)} {surname}"
        if style == 1:
            return f"{surname} {self.rng.choice(GIVEN_CANTONESE)}"
        return f"{self.rng.choice(GIVEN_ENGLISH)} {surname} {self.rng.choice(GIVEN_CANTONESE)}"

    def value(self, entity_type: str) -> str:
        """A valid value of a detector entity type (`HKID`, `PERSON`, ...)."""
        method = {"PERSON": "person_name", "SWIFT_BIC": "swift"}.get(entity_type, entity_type.lower())
        return getattr(self, method)()

    # -- near misses: one check fails, nothing should be reported ------------------------------
    def near_miss(self, entity_type: str) -> str:
        """A value of the right shape whose checksum (or date) is wrong."""
        if entity_type == "HKID":
            good = self.hkid()
            check = good[-2]
            wrong = self.rng.choice([c for c in "0123456789A" if c != check])
            return f"{good[:-2]}{wrong})"
        if entity_type == "PAYMENT_CARD":
            good = self.payment_card().replace(" ", "")
            wrong = str((int(good[-1]) + self.rng.randrange(1, 10)) % 10)
            number = good[:-1] + wrong
            return " ".join(number[i : i + 4] for i in range(0, 16, 4))
        if entity_type == "IBAN":
            good = self.iban()
            flipped = str((int(good[3]) + 1) % 10)
            return good[:3] + flipped + good[4:]
        if entity_type == "MAINLAND_ID":
            good = self.mainland_id()
            return good[:17] + self.rng.choice([c for c in "0123456789X" if c != good[17]])
        raise ValueError(f"no near-miss generator for {entity_type}")


# Templates for labelled texts: {ENTITY} slots get planted values; the rest is distractor text.
CHAT_TEMPLATES = (
    "Hi, my HKID is {HKID} and my mobile is {HK_PHONE}. Can you check my application?",
    "Please transfer HKD 5,000 to account {HK_BANK_ACCOUNT}, beneficiary {PERSON}.",
    "I lost my credit card {PAYMENT_CARD}, please freeze it. You can reach me at {EMAIL}.",
    "My name is {PERSON}, date of birth {DATE_OF_BIRTH}, passport {PASSPORT}.",
    "For the wire use IBAN {IBAN} and SWIFT {SWIFT_BIC}. Reference 20240311.",
    "The applicant {PERSON} holds mainland resident ID {MAINLAND_ID} and was born on {DATE_OF_BIRTH}.",
    "Call me on {HK_PHONE} after 6pm, or email {EMAIL}.",
    "Statement dated 2024-03-31 shows a balance of HKD 120,450.00 for card ending 4321.",
    "Can you explain the difference between a time deposit and a savings account?",
    "Dear {PERSON}, your HKID {HKID} has been verified and your account {HK_BANK_ACCOUNT} is active.",
    # Near misses ({!TYPE}: right shape, wrong checksum) are unlabelled: reporting them costs precision.
    "The form shows HKID {!HKID} but the check digit looks wrong; card {!PAYMENT_CARD} was declined.",
    "Rejected transfer to IBAN {!IBAN}; the ID number {!MAINLAND_ID} failed validation.",
)
FILLER = (
    "The customer asked about the monthly fee schedule and the interest rate for the next quarter. ",
    "Our records show the transaction was processed on 2023-11-02 at the Central branch. ",
    "Please note that the exchange rate of 7.82 applies to transfers above HKD 10,000. ",
    "The complaint reference is CMP-2024-0457 and the case was escalated to the operations team. ",
    "Interest of 3.25% p.a. is credited monthly; early withdrawal may reduce the return. ",
    "A one-time password was sent to the registered device at 10:42. ",
    "The branch at Nathan Road opens at 9:00 and closes at 17:00 on weekdays. ",
    "Order number 88213377 was shipped in 3 parcels totalling 12.5 kg. ",
)


def _fill(template: str, fake: FakePII) -> Labelled:
    out = Labelled("")
    parts: list[str] = []
    pos = 0
    cursor = 0
    while (open_at := template.find("{", cursor)) != -1:
        close_at = template.index("}", open_at)
        literal = template[cursor:open_at]
        parts.append(literal)
        pos += len(literal)
        entity_type = template[open_at + 1 : close_at]
        if entity_type.startswith("!"):
            value = fake.near_miss(entity_type[1:])
        else:
            value = fake.value(entity_type)
            out.spans.append((pos, pos + len(value), entity_type))
        parts.append(value)
        pos += len(value)
        cursor = close_at + 1
    parts.append(template[cursor:])
    out.text = "".join(parts)
    return out


def chat_turn(fake: FakePII) -> Labelled:
    return _fill(fake.rng.choice(CHAT_TEMPLATES), fake)


def document(fake: FakePII, size: int) -> Labelled:
    """About `size` characters of filler with chat-style sentences (and their PII) planted through it."""
    doc = Labelled("")
    while len(doc.text) < size:
        if fake.rng.random() < 0.35:
            piece = chat_turn(fake)
            piece.text += " "
        else:
            piece = Labelled(fake.rng.choice(FILLER))
        offset = len(doc.text)
        doc.text += piece.text
        doc.spans.extend((s + offset, e + offset, t) for s, e, t in piece.spans)
    return doc


def labelled_set(
    seed: int = 0, *, chats: int = 200, docs_1k: int = 30, docs_10k: int = 5
) -> dict[str, list[Labelled]]:
    """The benchmark's labelled set: short chat turns, ~1 KB and ~10 KB documents with planted HK PII."""
    fake = FakePII(seed)
    return {
        "chat": [chat_turn(fake) for _ in range(chats)],
        "1kb": [document(fake, 1024) for _ in range(docs_1k)],
        "10kb": [document(fake, 10 * 1024) for _ in range(docs_10k)],
    }
