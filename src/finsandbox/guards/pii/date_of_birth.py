"""Dates of birth: a real past date that sits next to words like "born" or "DOB".

Dates alone are everywhere in banking text (value dates, statement dates), so the base score is
below the reporting threshold and only context lifts a date into a date of birth.
"""

from __future__ import annotations

import re
from datetime import date

from finsandbox.guards.pii.recognizer import Pattern, Recognizer, recogniser

_MONTH_NAMES = "jan feb mar apr may jun jul aug sep oct nov dec"
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES.split(), start=1)}
_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"  # noqa: E501
_B = r"(?<![\w/.-])"
_A = r"(?![\w/-]|\.\d)"


def parse_date(value: str) -> date | None:
    """Parse the formats the patterns accept; day-first for numeric dates, as written in Hong Kong."""
    value = value.strip()
    try:
        if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", value):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", value):
            return date(int(m[3]), int(m[2]), int(m[1]))
        if m := re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?[ -]([A-Za-z]+)\.?,?[ -](\d{4})", value):
            return date(int(m[3]), _MONTHS[m[2][:3].lower()], int(m[1]))
        if m := re.fullmatch(r"([A-Za-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})", value):
            return date(int(m[3]), _MONTHS[m[1][:3].lower()], int(m[2]))
    except (ValueError, KeyError):
        return None
    return None


@recogniser("DATE_OF_BIRTH")
class DateOfBirthRecognizer(Recognizer):
    entity_type = "DATE_OF_BIRTH"
    precedence = 100
    requires = r"\d"  # every pattern holds digits
    patterns = (
        Pattern("iso_date", _B + r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}" + _A, 0.2),
        Pattern("dmy_date", _B + r"\d{1,2}[-/.]\d{1,2}[-/.]\d{4}" + _A, 0.2),
        Pattern(
            "d_month_y",
            _B + rf"\d{{1,2}}(?:st|nd|rd|th)?[ -]{_MONTH}\.?,?[ -]\d{{4}}" + _A,
            0.2,
            re.IGNORECASE,
        ),
        Pattern(
            "month_d_y", _B + rf"{_MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}" + _A, 0.2, re.IGNORECASE
        ),
    )
    context = ("born", "birth", "date of birth", "dob", "d.o.b", "birthday", "birthdate", "出生", "生日")
    context_boost = 0.4
    context_before = 40
    context_after = 8

    def validate(self, value: str) -> bool:
        born = parse_date(value)
        return born is not None and date(1900, 1, 1) <= born <= date.today()
