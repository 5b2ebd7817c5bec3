"""Hong Kong synthetic-data helpers shared by the reference use cases.

Everything is drawn from one seeded `random.Random`, so a generator that asks for the same things
in the same order writes the same bytes. Identifiers (HKID, phones, bank accounts) come from the
guards' `FakePII`, so they pass the same checksums and patterns the PII guard enforces: fake, but
valid-looking enough that a leakage test means something.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from finsandbox.guards.pii.fake import FakePII

BANK = "Harbour Bank"

# Name pools by group and sex. Groups follow Hong Kong's population: Chinese, South Asian,
# Filipino and Western residents; counterfactual fairness tests swap across them.
NAMES: dict[str, dict[str, tuple[list[str], list[str]]]] = {
    "chinese": {
        "male": (
            ["Chi Keung", "Ka Ho", "Kin Wai", "Chun Kit", "Wai Lun", "Siu Ming", "Tai Man", "Kwok Wing"],
            ["Chan", "Wong", "Lee", "Cheung", "Lau", "Ng", "Ho", "Leung", "Lam", "Tsang", "Yip", "Kwok"],
        ),
        "female": (
            ["Ka Yan", "Wing Sze", "Mei Ling", "Hoi Yan", "Yuk Lan", "Suet Ying", "Pui Man", "Ching Yee"],
            ["Chan", "Wong", "Lee", "Cheung", "Lau", "Ng", "Ho", "Leung", "Lam", "Tsang", "Yip", "Kwok"],
        ),
    },
    "south_asian": {
        "male": (
            ["Rahul", "Arjun", "Imran", "Gurpreet", "Vikram", "Bilal", "Sanjay", "Deepak"],
            ["Sharma", "Khan", "Singh", "Patel", "Gurung", "Rai", "Ahmed", "Malik"],
        ),
        "female": (
            ["Priya", "Ayesha", "Sunita", "Fatima", "Anjali", "Nisha", "Meera", "Sabina"],
            ["Sharma", "Khan", "Singh", "Patel", "Gurung", "Rai", "Ahmed", "Malik"],
        ),
    },
    "filipino": {
        "male": (
            ["Jose", "Mark", "Paolo", "Ramon", "Carlo", "Jerome", "Rodel", "Arnel"],
            ["Santos", "Reyes", "Cruz", "Bautista", "Garcia", "Mendoza", "Dela Cruz", "Villanueva"],
        ),
        "female": (
            ["Maria", "Grace", "Angelica", "Rowena", "Marites", "Joy", "Kristine", "Liza"],
            ["Santos", "Reyes", "Cruz", "Bautista", "Garcia", "Mendoza", "Dela Cruz", "Villanueva"],
        ),
    },
    "western": {
        "male": (
            ["Oliver", "James", "Thomas", "Daniel", "Matthew", "Andrew", "Lucas", "Henry"],
            ["Smith", "Taylor", "Brown", "Wilson", "Clarke", "Evans", "Murphy", "Walker"],
        ),
        "female": (
            ["Charlotte", "Emma", "Sophie", "Hannah", "Laura", "Rachel", "Claire", "Olivia"],
            ["Smith", "Taylor", "Brown", "Wilson", "Clarke", "Evans", "Murphy", "Walker"],
        ),
    },
}
GROUPS: tuple[str, ...] = tuple(NAMES)
NATIONALITY = {"chinese": "Chinese", "south_asian": "Indian", "filipino": "Filipino", "western": "British"}

# District -> (region, streets in that district).
DISTRICTS: dict[str, tuple[str, list[str]]] = {
    "Central": ("Hong Kong Island", ["Queen's Road Central", "Des Voeux Road Central"]),
    "Wan Chai": ("Hong Kong Island", ["Hennessy Road", "Lockhart Road"]),
    "Causeway Bay": ("Hong Kong Island", ["Yee Wo Street", "Percival Street"]),
    "North Point": ("Hong Kong Island", ["King's Road", "Java Road"]),
    "Aberdeen": ("Hong Kong Island", ["Aberdeen Main Road", "Wu Nam Street"]),
    "Tsim Sha Tsui": ("Kowloon", ["Nathan Road", "Chatham Road South"]),
    "Mong Kok": ("Kowloon", ["Argyle Street", "Sai Yeung Choi Street South"]),
    "Sham Shui Po": ("Kowloon", ["Cheung Sha Wan Road", "Fuk Wa Street"]),
    "Kwun Tong": ("Kowloon", ["Kwun Tong Road", "Hoi Bun Road"]),
    "Hung Hom": ("Kowloon", ["Ma Tau Wai Road", "Whampoa Street"]),
    "Sha Tin": ("New Territories", ["Sha Tin Centre Street", "Tai Chung Kiu Road"]),
    "Tsuen Wan": ("New Territories", ["Castle Peak Road Tsuen Wan", "Sha Tsui Road"]),
    "Tuen Mun": ("New Territories", ["Tuen Mun Heung Sze Wui Road", "Castle Peak Road"]),
    "Tai Po": ("New Territories", ["On Fu Road", "Kwong Fuk Road"]),
    "Yuen Long": ("New Territories", ["Castle Peak Road Yuen Long", "On Lok Road"]),
    "Tseung Kwan O": ("New Territories", ["Tong Chun Street", "Po Hong Road"]),
}
BUILDINGS = [
    "Harbourfront Tower", "Jade Court", "Lucky Mansion", "Golden Dragon Building", "Seaview Garden",
    "Fortune Plaza", "Peak Vista", "Hillside Terrace", "Lotus Court", "Victoria Centre",
]  # fmt: skip
OCCUPATIONS = [
    ("Accountant", "Lam & Partners CPA"), ("Nurse", "Hospital Authority"),
    ("Teacher", "Kowloon Bay Primary School"),
    ("Software Engineer", "Pearl Delta Tech Ltd"), ("Domestic Helper", "Private household"),
    ("Sales Manager", "Victoria Trading Co Ltd"), ("Chef", "Golden Harbour Restaurant"),
    ("Logistics Coordinator", "Kwai Chung Freight Ltd"), ("Civil Servant", "HKSAR Government"),
    ("Self-employed Shop Owner", "Own business"),
]  # fmt: skip

MERCHANTS_LOCAL = [
    "Harbour City Mart", "Kowloon Electronics", "Lantau Bakery", "Star Ferry Cafe", "Wan Chai Pharmacy",
    "Mong Kok Mobile Store", "Peak Noodle House", "Causeway Fashion", "Island Supermarket", "Tai Po Books",
]  # fmt: skip
MERCHANTS_ONLINE = [
    "GlobalGiftCards.example", "QuickTopUp Online", "StreamPlus Subscription", "GameCoins Store",
    "CloudApps Billing", "TravelNow Booking", "DigitalVoucher Hub", "eShop Asia",
]  # fmt: skip
COMPANIES = [
    "Pearl River Garments Ltd", "Kowloon Precision Parts Ltd", "Victoria Harbour Seafood Trading Ltd",
    "Tsuen Wan Printing Co Ltd", "Jade Gate Logistics Ltd", "Silvermine Electronics Ltd",
    "Lion Rock Food Supplies Ltd", "Sai Kung Marine Services Ltd", "Golden Bauhinia Furniture Ltd",
    "Eastern Tide Cosmetics Ltd", "North Point Engineering Ltd", "Aberdeen Boatworks Ltd",
    "Kai Tak Event Services Ltd", "Stanley Home Textiles Ltd", "Lamma Renewable Energy Ltd",
]  # fmt: skip


@dataclass(frozen=True)
class Person:
    given: str
    surname: str
    sex: str
    group: str

    @property
    def name(self) -> str:
        # Chinese names are written surname first in Hong Kong records.
        return f"{self.surname} {self.given}" if self.group == "chinese" else f"{self.given} {self.surname}"

    @property
    def title(self) -> str:
        return "Mr" if self.sex == "male" else "Ms"

    @property
    def nationality(self) -> str:
        return NATIONALITY[self.group]


def hkd(amount: float, *, cents: bool = False) -> str:
    """HK$12,345 or HK$12,345.67."""
    return f"HK${amount:,.2f}" if cents else f"HK${amount:,.0f}"


class HKData:
    """One seeded source of Hong Kong-flavoured synthetic data."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = FakePII(seed)
        # Share one random stream so the order of calls alone fixes every value.
        self.fake.rng = self.rng

    # -- people and places --------------------------------------------------------------------
    def person(self, group: str | None = None, sex: str | None = None) -> Person:
        group = group or self.rng.choice(GROUPS)
        sex = sex or self.rng.choice(("male", "female"))
        givens, surnames = NAMES[group][sex]
        return Person(self.rng.choice(givens), self.rng.choice(surnames), sex, group)

    def district(self) -> tuple[str, str]:
        district = self.rng.choice(sorted(DISTRICTS))
        return district, DISTRICTS[district][0]

    def address(self) -> dict[str, str]:
        district, region = self.district()
        flat = f"Flat {self.rng.randint(1, 40)}{self.rng.choice('ABCDEFGH')}"
        floor = f"{self.rng.randint(2, 45)}/F"
        line = (
            f"{flat}, {floor}, {self.rng.choice(BUILDINGS)}, "
            f"{self.rng.randint(1, 388)} {self.rng.choice(DISTRICTS[district][1])}, {district}"
        )
        return {"line": line, "district": district, "region": region}

    def occupation(self) -> tuple[str, str]:
        return self.rng.choice(OCCUPATIONS)

    def company(self) -> str:
        return self.rng.choice(COMPANIES)

    # -- identifiers (valid checksums, from the guards' generator) ----------------------------
    def hkid(self) -> str:
        return self.fake.hkid()

    def phone(self) -> str:
        """A mobile number written the common way: +852 9123 4567."""
        number = self.rng.choice("5679") + "".join(self.rng.choice("0123456789") for _ in range(7))
        return f"+852 {number[:4]} {number[4:]}"

    def bank_account(self) -> str:
        return self.fake.hk_bank_account()

    def card_last4(self) -> str:
        return "".join(self.rng.choice("0123456789") for _ in range(4))

    # -- amounts and dates --------------------------------------------------------------------
    def amount(self, low: float, high: float, *, step: float = 1.0) -> float:
        steps = int((high - low) / step)
        return round(low + step * self.rng.randint(0, steps), 2)

    def day(self, start: date, span_days: int) -> date:
        return start + timedelta(days=self.rng.randrange(span_days))

    def date_of_birth(self, min_age: int, max_age: int, today: date) -> date:
        oldest = today.replace(year=today.year - max_age)
        return oldest + timedelta(days=self.rng.randrange(365 * (max_age - min_age)))

    def choice(self, items: Any) -> Any:
        return self.rng.choice(items)


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """One JSON object per line, keys in insertion order, UTF-8, LF endings: byte-stable output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n" for row in rows)
    path.write_bytes(text.encode("utf-8"))


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def write_datasets(root: Path, datasets: dict[str, list[dict[str, Any]]]) -> list[Path]:
    """Write each dataset as cases/<name> under `root`; returns the paths in order."""
    written = []
    for name, rows in datasets.items():
        path = root / "cases" / name
        write_jsonl(path, rows)
        written.append(path)
    return written


def generator_main(
    description: str, generate: Callable[[Path | None], list[Path]], argv: list[str] | None
) -> None:
    """The command line every theme's generator shares: `--out DIR`, then the paths written."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the package folder)")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
