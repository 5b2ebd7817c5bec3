"""Text normalisation and number parsing shared by the deterministic scorers."""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import date

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation + "，。、！？：；「」『』（）《》“”‘’")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)

STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being it its
    this that these those there here which who whom whose what when where why how not no nor so than
    too very can could would should will shall may might must do does did done have has had i you he
    she we they me him her us them my your his our their also into about over under per any all each
    such only own same other more most some both few just""".split()  # noqa: SIM905
)


def fold(text: str) -> str:
    """Unicode-compatible casefold: full-width digits and letters become ASCII."""
    return unicodedata.normalize("NFKC", text).casefold()


def normalise(text: str) -> str:
    """SQuAD-style: casefold, drop punctuation and articles, collapse whitespace."""
    text = fold(text).translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Word tokens of normalised text; each CJK character is its own token."""
    return _WORD.findall(normalise(text))


def content_tokens(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in STOPWORDS]


_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def sentences(text: str) -> list[str]:
    """Rough sentence split; decimal points are safe because a split needs following whitespace."""
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


@dataclass(frozen=True)
class Quantity:
    """A number found in text; dates carry their ordinal day in `value`."""

    value: float
    kind: str  # "number" | "amount" | "rate" | "date"
    text: str


_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for m in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DMY_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.IGNORECASE)
_MONTH_DAY = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.IGNORECASE)

_SCALE = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
}
_NUMBER = re.compile(
    r"(?P<cur>(?:hk|us|rmb|cn)?\$|hkd|usd|rmb|cny|¥|€|£)?\s?"
    r"(?P<sign>[-−])?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s?(?P<scale>thousand|million|billion|bn|mn|k|m|b)\b)?"
    r"\s?(?P<pct>%|per\s?cent|percent)?",
    re.IGNORECASE,
)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(text: str) -> date | None:
    """One date in ISO, day/month/year (Hong Kong order) or words."""
    found = find_dates(text)
    return found[0][0] if found else None


def find_dates(text: str) -> list[tuple[date, tuple[int, int], str]]:
    hits: list[tuple[date, tuple[int, int], str]] = []
    for m in _ISO_DATE.finditer(text):
        d = _safe_date(int(m[1]), int(m[2]), int(m[3]))
        if d:
            hits.append((d, m.span(), m[0]))
    for m in _DMY_DATE.finditer(text):
        d = _safe_date(int(m[3]), int(m[2]), int(m[1]))
        if d:
            hits.append((d, m.span(), m[0]))
    for m in _DAY_MONTH.finditer(text):
        d = _safe_date(int(m[3]), _MONTHS[m[2].lower()], int(m[1]))
        if d:
            hits.append((d, m.span(), m[0]))
    for m in _MONTH_DAY.finditer(text):
        d = _safe_date(int(m[3]), _MONTHS[m[1].lower()], int(m[2]))
        if d:
            hits.append((d, m.span(), m[0]))
    hits.sort(key=lambda h: h[1])
    return hits


def find_quantities(text: str) -> list[Quantity]:
    """Dates, amounts (with currency and k/m/bn scale), rates (%), and bare numbers, in text order."""
    text = unicodedata.normalize("NFKC", text)
    found: list[tuple[int, Quantity]] = []
    taken: list[tuple[int, int]] = []
    for d, span, raw in find_dates(text):
        if any(a < span[1] and span[0] < b for a, b in taken):
            continue
        taken.append(span)
        found.append((span[0], Quantity(float(d.toordinal()), "date", raw)))
    for m in _NUMBER.finditer(text):
        start, end = m.span("num")
        if any(a < end and start < b for a, b in taken):
            continue
        # A number glued to letters (an id such as "A123456") is not a quantity.
        if start > 0 and text[start - 1].isalpha() and not m["cur"]:
            continue
        value = float(m["num"].replace(",", ""))
        if m["sign"]:
            value = -value
        if m["scale"]:
            scale = m["scale"].lower()
            # A lone "m"/"b" only scales when there is a currency ("HK$5m"), not "5 m" (metres).
            if scale in ("m", "b") and not m["cur"]:
                pass
            else:
                value *= _SCALE[scale]
        kind = "rate" if m["pct"] else ("amount" if m["cur"] else "number")
        found.append((m.start(), Quantity(value, kind, m[0].strip())))
    found.sort(key=lambda pair: pair[0])
    return [q for _, q in found]


def parse_quantity(raw: object) -> Quantity | None:
    """An expected number written as a number or as text ("HK$1,200", "3.5%", "2024-03-31")."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return Quantity(float(raw), "number", str(raw))
    if isinstance(raw, str):
        found = find_quantities(raw)
        return found[0] if found else None
    return None


def is_cjk(text: str) -> bool:
    return bool(_CJK.search(text))
