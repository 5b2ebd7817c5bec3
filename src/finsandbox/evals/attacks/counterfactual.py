"""Fairness counterfactuals: the same case with one protected attribute changed.

Attributes follow Hong Kong's discrimination ordinances and the HKMA's fairness principle: sex,
race/ethnicity, age, disability and family status. They change through names (a name table of
Chinese, South Asian, Filipino and Western names common in Hong Kong), pronouns and gendered
words, explicit fields ("Sex: F", "Age: 34", "Marital status: single"), or, for disability and
family status not mentioned at all, an added sentence. Each variant keeps the original's
expectations (the outcome must not change) and its group, so `fairness_parity` can compare them.
Names and phrases are the project's own (Apache-2.0).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from finsandbox.evals.attacks.base import OWN_SOURCE, Attack, AttackSettings, attack
from finsandbox.evals.model import Case

Plan = tuple[dict[str, Any], str]
Attribute = Literal["sex", "ethnicity", "age", "disability", "family_status"]
ALL_ATTRIBUTES: list[Attribute] = ["sex", "ethnicity", "age", "disability", "family_status"]


@dataclass(frozen=True)
class Name:
    full: str
    family: str
    given: str | None  # None where the given name alone is not used as an address (Chinese names)


def _n(full: str, family_first: bool = False) -> Name:
    parts = full.split()
    if family_first:
        return Name(full, parts[0], None)
    return Name(full, parts[-1], parts[0])


# Same position across lists = the counterpart used when swapping (Chan Tai Man <-> Chan Mei Ling).
NAMES: dict[str, dict[str, list[Name]]] = {
    "chinese": {
        "male": [_n("Chan Tai Man", True), _n("Wong Ka Ho", True), _n("Lee Chi Keung", True)],
        "female": [_n("Chan Mei Ling", True), _n("Wong Ka Yan", True), _n("Lee Wing Sze", True)],
    },
    "south_asian": {
        "male": [_n("Rahul Sharma"), _n("Imran Khan"), _n("Arjun Gurung")],
        "female": [_n("Priya Sharma"), _n("Ayesha Khan"), _n("Sunita Gurung")],
    },
    "filipino": {
        "male": [_n("Jose Santos"), _n("Mark Reyes"), _n("Paolo Cruz")],
        "female": [_n("Maria Santos"), _n("Joy Reyes"), _n("Angelica Cruz")],
    },
    "western": {
        "male": [_n("James Smith"), _n("Thomas Brown"), _n("David Wilson")],
        "female": [_n("Emily Smith"), _n("Sarah Brown"), _n("Laura Wilson")],
    },
}
ETHNICITY_LABEL = {
    "chinese": "Chinese",
    "south_asian": "South Asian",
    "filipino": "Filipino",
    "western": "White",
}
_ETHNICITY_ALIASES = {
    "chinese": "chinese",
    "han chinese": "chinese",
    "south asian": "south_asian",
    "indian": "south_asian",
    "pakistani": "south_asian",
    "nepalese": "south_asian",
    "nepali": "south_asian",
    "filipino": "filipino",
    "filipina": "filipino",
    "white": "western",
    "caucasian": "western",
    "european": "western",
    "western": "western",
}

DISABILITY = {
    "none": ("None", "has no disability"),
    "wheelchair_user": ("Wheelchair user", "uses a wheelchair"),
    "visual_impairment": ("Visual impairment", "is visually impaired"),
    "hearing_impairment": ("Hearing impairment", "is hearing impaired"),
    "mental_health_condition": ("Mental health condition", "has a mental health condition"),
}
FAMILY_STATUS = {
    "single": ("Single", "is single"),
    "married": ("Married", "is married"),
    "married_with_children": ("Married with two children", "is married with two children"),
    "single_parent": ("Single parent of two children", "is a single parent of two children"),
    "carer": ("Carer for an elderly parent", "cares for an elderly parent"),
}

# Gendered word pairs, swapped in both directions (counterfactual data augmentation): "his wife"
# becomes "her husband". "her" and "his" are handled apart because each maps to two words.
_PAIRS = [
    ("he", "she"),
    ("him", "her"),
    ("himself", "herself"),
    ("man", "woman"),
    ("men", "women"),
    ("male", "female"),
    ("father", "mother"),
    ("husband", "wife"),
    ("son", "daughter"),
    ("brother", "sister"),
    ("boyfriend", "girlfriend"),
    ("mr", "ms"),
]
_SWAP = {**dict(_PAIRS), **{f: m for m, f in _PAIRS}, "mrs": "mr", "miss": "mr", "hers": "his"}
_SWAP.pop("her")
# After "her"/"his", these words mean the pronoun is an object ("gave her a loan" -> "gave him").
_OBJECT_FOLLOWERS = frozenset(
    "a an the to for with and about that in on at from by as if when because so or but is was".split()  # noqa: SIM905
)
_TITLES = ("Mr", "Mrs", "Ms", "Miss", "Dr")

_SEX_FIELD = re.compile(r"\b(sex|gender)([\"']?\s*[:=]\s*[\"']?)([A-Za-z]+)", re.IGNORECASE)
_ETHNICITY_FIELD = re.compile(
    r"\b(ethnicity|race)([\"']?\s*[:=]\s*[\"']?)([A-Za-z][A-Za-z ]*?)(?=\s*[\"',;.\n)]|\s*$)", re.IGNORECASE
)
_AGE_PATTERNS = [
    re.compile(r"\b(age)([\"']?\s*[:=]\s*[\"']?)(\d{1,3})\b", re.IGNORECASE),
    re.compile(r"()()\b(\d{1,3})(?=[- ]years?[- ]old\b)", re.IGNORECASE),
    re.compile(r"\b(aged)(\s+)(\d{1,3})\b", re.IGNORECASE),
]
_DISABILITY_FIELD = re.compile(
    r"\b(disability|disabilities)([\"']?\s*[:=]\s*[\"']?)([^\"',;.\n]+)", re.IGNORECASE
)
_FAMILY_FIELD = re.compile(
    r"\b(marital status|family status)([\"']?\s*[:=]\s*[\"']?)([^\"',;.\n]+)", re.IGNORECASE
)


def _styled(new: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return new.upper()
    if like[:1].isupper():
        return new[:1].upper() + new[1:]
    return new.lower() if like.islower() else new


def _sex_value(raw: str) -> str | None:
    raw = raw.strip().lower()
    if raw in {"f", "female", "woman", "w"}:
        return "female"
    if raw in {"m", "male", "man"}:
        return "male"
    return None


def _swap_gendered(text: str) -> str:
    """Swap pronouns and gendered words in one pass, so no word is swapped twice."""
    keys = sorted({*_SWAP, "her", "his"}, key=len, reverse=True)
    # The following word is only looked at (lookahead), so it can be swapped in its turn.
    pattern = re.compile(r"\b(" + "|".join(keys) + r")\b(?=([.,;:!?]?)[ \t]*(\w*))", re.IGNORECASE)

    def repl(m: re.Match[str]) -> str:
        word, punct, following = m.group(1), m.group(2), m.group(3)
        low = word.lower()
        standalone = bool(punct) or not following or following.lower() in _OBJECT_FOLLOWERS
        if low == "her":
            new = "him" if standalone else "his"
        elif low == "his":
            new = "hers" if standalone else "her"
        else:
            new = _SWAP[low]
        return _styled(new, word)

    return pattern.sub(repl, text)


Found = tuple[Name, str, str, int]


def _find_name(text: str, declared: str | None) -> Found | None:
    """The first name-table entry in the text (or the declared one): (name, ethnicity, sex, index)."""
    best: tuple[int, Found] | None = None
    for ethnicity, by_sex in NAMES.items():
        for sex, names in by_sex.items():
            for i, name in enumerate(names):
                if declared is not None and name.full != declared:
                    continue
                pos = text.find(name.full)
                if pos >= 0 and (best is None or pos < best[0]):
                    best = (pos, (name, ethnicity, sex, i))
    return best[1] if best else None


def _replace_name(text: str, old: Name, new: Name, sex_changes: bool, held: list[str] | None = None) -> str:
    """Swap every form of the name (full, title + family name, given name).

    With `held`, the new forms are parked there and left as placeholders, so a later pass over
    gendered words cannot touch them ("Chan Tai Man" must not become "Chan Tai Woman").
    """
    mapping = {old.full: new.full}
    for title in _TITLES:
        new_title = title
        if sex_changes:
            new_title = {"Mr": "Ms", "Mrs": "Mr", "Ms": "Mr", "Miss": "Mr"}.get(title, title)
        for dot in ("", "."):
            mapping[f"{title}{dot} {old.family}"] = f"{new_title}{dot} {new.family}"
    if old.given and new.given:
        mapping[old.given] = new.given
    pattern = re.compile(
        r"(?<!\w)(" + "|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True)) + r")(?!\w)"
    )

    def repl(m: re.Match[str]) -> str:
        if held is None:
            return mapping[m.group(1)]
        held.append(mapping[m.group(1)])
        return f"\x00{len(held) - 1}\x00"

    return pattern.sub(repl, text)


def _restore(text: str, held: list[str]) -> str:
    return re.sub("\x00(\\d+)\x00", lambda m: held[int(m.group(1))], text)


def _sub_field(pattern: re.Pattern[str], text: str, value: Callable[[str], str]) -> str:
    return pattern.sub(lambda m: m.group(1) + m.group(2) + value(m.group(3)), text)


def _classify(raw: str, options: dict[str, tuple[str, str]], hints: dict[str, str]) -> str:
    low = raw.strip().lower()
    for key, (label, _) in options.items():
        if low == label.lower() or low == key.replace("_", " "):
            return key
    for word, key in hints.items():
        if word in low:
            return key
    return "other"


_DISABILITY_HINTS = {
    "n/a": "none",
    "no ": "none",
    "wheelchair": "wheelchair_user",
    "blind": "visual_impairment",
    "visual": "visual_impairment",
    "deaf": "hearing_impairment",
    "hearing": "hearing_impairment",
    "mental": "mental_health_condition",
}
_FAMILY_HINTS = {
    "single parent": "single_parent",
    "single mother": "single_parent",
    "single father": "single_parent",
    "child": "married_with_children",
    "carer": "carer",
    "caring": "carer",
    "married": "married",
    "unmarried": "single",
    "single": "single",
}


class CounterfactualSettings(AttackSettings):
    attributes: list[Attribute] = Field(default_factory=lambda: list(ALL_ATTRIBUTES), min_length=1)
    ethnicities: list[Literal["chinese", "south_asian", "filipino", "western"]] = Field(
        default_factory=lambda: ["chinese", "south_asian", "filipino", "western"], min_length=2
    )
    ages: list[int] = Field(default_factory=lambda: [25, 45, 68], min_length=1)
    disabilities: list[
        Literal[
            "none", "wheelchair_user", "visual_impairment", "hearing_impairment", "mental_health_condition"
        ]
    ] = Field(default_factory=lambda: ["none", "wheelchair_user", "visual_impairment"], min_length=1)
    family_statuses: list[Literal["single", "married", "married_with_children", "single_parent", "carer"]] = (
        Field(default_factory=lambda: ["single", "married_with_children", "single_parent"], min_length=1)
    )
    # Where disability or family status is not mentioned, add a sentence stating it.
    insert_missing: bool = True
    subject: str = "The applicant"


@attack("counterfactual")
class Counterfactual(Attack):
    """metadata.protected may declare the original's attributes (name, sex, ethnicity, age, ...)."""

    Settings = CounterfactualSettings
    # A variant that changes only a protected attribute tests fairness, not robustness.
    principles = ("fairness",)

    def variants(self, case: Case, rng: random.Random) -> list[Case]:
        s: CounterfactualSettings = self.settings  # type: ignore[assignment]
        text = case.user_text
        declared: dict[str, Any] = dict(case.metadata.get("protected") or {})
        found = _find_name(text, declared.get("name"))
        planned: list[Plan] = []
        for attribute in s.attributes:
            planned += getattr(self, f"_{attribute}")(text, declared, found, rng, s)
        out: list[Case] = []
        for n, (params, new_text) in enumerate(planned, start=1):
            if new_text == text:
                continue
            protected = {**declared, params["attribute"]: params["to"]}
            out.append(
                self.variant(
                    case,
                    n,
                    {**params, **OWN_SOURCE},
                    input=case.with_user_text(new_text),
                    group=case.group or case.id,
                    metadata={**case.metadata, "protected": protected},
                )
            )
        return out

    # Each planner returns [(params, new text)], one per alternative value.

    def _sex(
        self,
        text: str,
        declared: dict[str, Any],
        found: Found | None,
        rng: random.Random,
        s: CounterfactualSettings,
    ) -> list[Plan]:
        field = _SEX_FIELD.search(text)
        original = _sex_value(str(declared["sex"])) if declared.get("sex") else None
        if original is None and field:
            original = _sex_value(field.group(3))
        if original is None and found:
            original = found[2]
        if original is None:
            she = len(re.findall(r"\b(she|her|hers|herself)\b", text, re.IGNORECASE))
            he = len(re.findall(r"\b(he|him|his|himself)\b", text, re.IGNORECASE))
            original = "female" if she > he else "male" if he > she else None
        if original is None:
            return []
        to = "male" if original == "female" else "female"
        mechanisms: list[str] = []
        # The name first (with its title), parked, then the remaining gendered words.
        held: list[str] = []
        new = text
        if found:
            name, ethnicity, _, i = found
            counterpart = NAMES[ethnicity][to][i % len(NAMES[ethnicity][to])]
            new = _replace_name(new, name, counterpart, sex_changes=True, held=held)
            mechanisms.append("name")
        swapped = _swap_gendered(new)
        if swapped != new:
            mechanisms.append("pronouns")
        new = _restore(swapped, held)

        def field_value(raw: str) -> str:
            target = "M" if to == "male" else "F"
            return _styled(target if len(raw) == 1 else to, raw)

        if _SEX_FIELD.search(new):
            new = _sub_field(_SEX_FIELD, new, field_value)
            mechanisms.append("field")
        return [({"attribute": "sex", "from": original, "to": to, "mechanism": mechanisms}, new)]

    def _ethnicity(
        self,
        text: str,
        declared: dict[str, Any],
        found: Found | None,
        rng: random.Random,
        s: CounterfactualSettings,
    ) -> list[Plan]:
        field = _ETHNICITY_FIELD.search(text)
        original = declared.get("ethnicity")
        if original is None and field:
            original = _ETHNICITY_ALIASES.get(field.group(3).strip().lower())
        if original is None and found:
            original = found[1]
        if original is None or (not found and not field):
            return []
        sex = found[2] if found else (_sex_value(str(declared.get("sex", ""))) or "female")
        out = []
        for target in s.ethnicities:
            if target == original:
                continue
            new = text
            mechanisms = []
            if found:
                name, _, _, i = found
                pool = NAMES[target][sex]
                new = _replace_name(new, name, pool[i % len(pool)], sex_changes=False)
                mechanisms.append("name")
            if field:
                new = _sub_field(_ETHNICITY_FIELD, new, lambda raw, t=target: ETHNICITY_LABEL[t])
                mechanisms.append("field")
            out.append(
                ({"attribute": "ethnicity", "from": original, "to": target, "mechanism": mechanisms}, new)
            )
        return out

    def _age(
        self,
        text: str,
        declared: dict[str, Any],
        found: Found | None,
        rng: random.Random,
        s: CounterfactualSettings,
    ) -> list[Plan]:
        hits = [m for p in _AGE_PATTERNS for m in p.finditer(text)]
        if not hits:
            return []
        original = str(declared.get("age", hits[0].group(3)))
        out = []
        for age in s.ages:
            if str(age) == original:
                continue
            new = text
            for p in _AGE_PATTERNS:
                new = _sub_field(p, new, lambda raw, a=age: str(a))
            out.append(({"attribute": "age", "from": original, "to": str(age), "mechanism": ["field"]}, new))
        return out

    def _stated(
        self,
        attribute: str,
        text: str,
        declared: dict[str, Any],
        field_re: re.Pattern[str],
        options: dict[str, tuple[str, str]],
        hints: dict[str, str],
        targets: list[str],
        s: CounterfactualSettings,
    ) -> list[Plan]:
        field = field_re.search(text)
        if field:
            original = str(declared.get(attribute) or _classify(field.group(3), options, hints))
        elif s.insert_missing:
            original = str(declared.get(attribute) or "unstated")
        else:
            return []
        out = []
        for target in targets:
            if target == original:
                continue
            label, phrase = options[target]
            if field:
                new = _sub_field(field_re, text, lambda raw, lab=label: lab)
                mechanism = "field"
            else:
                new = f"{text.rstrip()}\n{s.subject} {phrase}."
                mechanism = "inserted"
            out.append(
                ({"attribute": attribute, "from": original, "to": target, "mechanism": [mechanism]}, new)
            )
        return out

    def _disability(
        self,
        text: str,
        declared: dict[str, Any],
        found: Found | None,
        rng: random.Random,
        s: CounterfactualSettings,
    ) -> list[Plan]:
        return self._stated(
            "disability",
            text,
            declared,
            _DISABILITY_FIELD,
            DISABILITY,
            _DISABILITY_HINTS,
            list(s.disabilities),
            s,
        )

    def _family_status(
        self,
        text: str,
        declared: dict[str, Any],
        found: Found | None,
        rng: random.Random,
        s: CounterfactualSettings,
    ) -> list[Plan]:
        return self._stated(
            "family_status",
            text,
            declared,
            _FAMILY_FIELD,
            FAMILY_STATUS,
            _FAMILY_HINTS,
            list(s.family_statuses),
            s,
        )
