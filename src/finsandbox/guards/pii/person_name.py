"""Person names: Hong Kong name rules always, and spaCy NER for the rest when the policy has it on.

The rules know how Hong Kong names are printed (see `hk_names`): "CHAN Tai Man", "CHAN TAI MAN",
"Chan Tai-man", "Peter CHAN Tai Man", "Peter Chan", 陳大文 and 陳先生, a titled or introduced
name ("Mr. Wong", "my name is ..."), "Name: ..." fields, and the name column of CSV rows and
tables (found from the header). NER catches everything else ("Yesterday Sarah Jenkins called").
spaCy reads ALL-CAPS text poorly and labels acronyms as people, so an NER span without a
lower-case letter is kept only when it holds a known surname.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator

from finsandbox.guards.base import Span
from finsandbox.guards.pii import ner
from finsandbox.guards.pii.hk_names import (
    CHINESE_COMPOUND_SURNAMES,
    CHINESE_SURNAMES,
    CHINESE_TITLES,
    ENGLISH_GIVEN,
    ENGLISH_GIVEN_UPPER,
    GIVEN_SYLLABLES,
    NOT_NAMES,
    SURNAMES,
    SURNAMES_UPPER,
)
from finsandbox.guards.pii.recognizer import DELIMITERS, Pattern, Recognizer, recogniser, split_cells

_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mdm|Madam|Dr|Prof|Sir|Dame|MR|MRS|MS|MISS|DR)"
_CAP = r"[A-Z][a-z]+(?:-[A-Za-z][a-z]+)?"  # Title-case word, "Tai-man" included
_UP = r"[A-Z]{1,10}(?:-[A-Z]{2,10})?"  # ALL-CAPS word
_WORD = rf"(?:{_CAP}|{_UP})"
_NAME = rf"(?P<name>{_WORD}(?:[ ]{_WORD}){{0,3}})(?![\w-])"
_NOT_NAME_TEXT = """
    I The This That These Those Dear Hi Hello Bank Customer Client Account Sir Madam Team Branch
    Please Thanks Thank Regards Yes No Ok OK And Or But If When We You He She They It My Our Your
    Today Tomorrow Monday Tuesday Wednesday Thursday Friday Saturday Sunday HK HKD USD RMB CNY HKID
    ID OTP FPS ATM PIN SMS AI CEO CFO Ltd Limited Company Co Dept Department Manager Officer Hong Kong
    Central Kowloon Island Road Street Tower Building Centre Center Plaza Mr Mrs Ms Miss Mdm Madam Dr
    Prof MR MRS MS MISS DR"""
_NOT_NAME_WORDS = frozenset(_NOT_NAME_TEXT.split())
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff"


def _syllables(words: list[str]) -> bool:
    """Every part of every word is a Cantonese given-name syllable ("Tai", "Tai-man", "KA")."""
    return bool(words) and all(
        part.lower() in GIVEN_SYLLABLES for word in words for part in word.split("-") if part
    )


@recogniser("PERSON")
class PersonNameRecognizer(Recognizer):
    entity_type = "PERSON"
    precedence = 110
    group = "name"
    # Titled and introduced names; the HK forms are found by `_hk_names`, tables by `_table_names`.
    patterns = (
        Pattern("titled_name", rf"\b{_TITLES}\.? {_NAME}", 0.5),
        Pattern(
            "addressed_name",
            rf"\b(?:Dear|[Bb]eneficiary|[Aa]ccount holder|[Aa]ttn:?|[Pp]ayee|[Aa]pplicant|[Cc]ardholder)"
            rf":? {_NAME}",
            0.45,
        ),
        Pattern(
            "introduced_name",
            rf"(?i:\bmy name is|\bname\s*[:：=]|\bi am|\bi'm|\bthis is|\bcalled|\bnamed|\bsigned) {_NAME}",
            0.3,
        ),
    )
    context = (
        "name", "customer", "client", "dear", "signed", "holder", "applicant", "beneficiary", "payee",
        "mr", "mrs", "ms", "miss", "姓名", "客戶", "先生", "小姐",
    )  # fmt: skip
    ner_score = 0.6

    def analyze(self, text: str) -> list[Span]:
        best: dict[tuple[int, int], float] = {
            (s.start, s.end): s.score for s in super().analyze(text) if self._plausible(text[s.start : s.end])
        }
        for finder in self._finders():
            for start, end, score in finder(text):
                if start >= end:
                    continue
                score = self.adjusted(score, text, start, end)
                best[(start, end)] = max(score, best.get((start, end), 0.0))
        return [Span(start, end, self.entity_type, score) for (start, end), score in best.items()]

    def _finders(self) -> tuple[Callable[[str], Iterator[tuple[int, int, float]]], ...]:
        return (_hk_names, _chinese_names, _table_names)

    def validate(self, value: str) -> bool:
        return self._plausible(value)

    @staticmethod
    def _plausible(value: str) -> bool:
        words = value.split()
        return bool(words) and words[0] not in _NOT_NAME_WORDS and value.casefold() not in NOT_NAMES

    def analyze_ner(self, text: str, found: list[Span] | tuple[Span, ...] = ()) -> list[Span]:
        """Names the model finds, run only where a name could still be (see `name_windows`)."""
        spans: list[Span] = []
        windows = name_windows(text, found)
        if not windows:
            return spans
        places = [m.span() for m in _PLACES.finditer(text)]
        for start, end, _label in _entities_in(text, windows):
            if any(start < p_end and end > p_start for p_start, p_end in places):
                continue  # "Tsui" of Tsim Sha Tsui, "Hang Seng" of the bank
            start, end = _trim(text, start, end)
            value = text[start:end]
            if (
                end - start < 2
                or value in _NOT_NAME_WORDS
                or value.casefold() in NOT_NAMES
                or re.search(r"[\d@_/\\<>]", value)
            ):
                continue
            if not re.search(r"[a-z]", value) and not any(
                w.strip(",.") in SURNAMES_UPPER for w in value.upper().split()
            ):
                continue  # an acronym or a shouted word; caps names are the rules' job
            score = self.adjusted(self.ner_score, text, start, end)
            spans.append(Span(start, end, self.entity_type, score))
        return spans


# -- where the model runs -------------------------------------------------------------------------

# Capitalised words that start sentences and are never names (not "Will", "May", "Grace").
_SENTENCE_TEXT = """
    Is Are Was Were Be Been Do Does Did Done Can Could Would Should Shall Must Might Have Has Had
    What When Where Why How Who Whom Whose Which There Here Also Then So As At In On For From With
    About After Before Of To By Not Just Only All Any Some Each Every Many Much More Most Other Such
    One Two Three First Last Next Their His Her Its Let Good Morning Afternoon Evening Sorry Kindly
    Regarding Re Note Yesterday Tomorrow Today Tonight Could Unfortunately However Otherwise Also
    Additionally Furthermore Meanwhile Once Since Because Although Though While Until Unless Whether
    Sure Great Thanks Thank Welcome Hey Dear Best Kind Warm Yours Sincerely Cheers Okay Yeah Nope
    Please Can Could Would Shall Pls Plz Hi Hello Any Some Nothing Everything Something
    Transfer Payment Account Card Balance Statement Loan Mortgage Deposit Interest Fee Fees Rate
    Rates Bank Branch Customer Client Policy Insurance Credit Debit Cash Cheque Online Mobile App
    Note Notes Subject Reference Ref Amount Date Time Total Summary Details Name Address Phone Email
    January February March April June July August September October November December Mon Tue Wed
    Thu Fri Sat Sun"""
_SENTENCE_WORDS = frozenset(_SENTENCE_TEXT.split()) - {"Will", "Hope"}
_CANDIDATE = re.compile(r"(?<![\w-])[A-Z][a-z]+(?:['’-][A-Za-z]+)*")
_WORD_SPAN = re.compile(r"\S+")
_WINDOW_WORDS = 6  # the model's receptive field is about four tokens either side


def name_windows(text: str, found: list[Span] | tuple[Span, ...] = ()) -> list[tuple[int, int]]:
    """Stretches of `text` where the model may find a name the rules have not: a few words either
    side of each capitalised word that is not a common sentence word and not inside a value found
    already. No such word, no model call: English names are capitalised, and spaCy finds none in
    lower-case or all-caps text that the rules do not handle better.
    """
    centres = [
        m.start()
        for m in _CANDIDATE.finditer(text)
        if m.group(0) not in _NOT_NAME_WORDS
        and m.group(0) not in _SENTENCE_WORDS
        and not any(s.start <= m.start() < s.end for s in found)
    ]
    if not centres:
        return []
    words = [m.span() for m in _WORD_SPAN.finditer(text)]
    starts = [w[0] for w in words]
    windows: list[tuple[int, int]] = []
    for centre in centres:
        i = max(0, bisect_right(starts, centre) - 1)
        lo, hi = words[max(0, i - _WINDOW_WORDS)][0], words[min(len(words) - 1, i + _WINDOW_WORDS)][1]
        if windows and lo <= windows[-1][1] + 1:
            windows[-1] = (windows[-1][0], max(hi, windows[-1][1]))
        else:
            windows.append((lo, hi))
    return windows


def _entities_in(text: str, windows: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Model entities of the windows, in `text` coordinates; the whole text when the windows
    cover most of it (one call is then cheaper than several)."""
    if sum(hi - lo for lo, hi in windows) > 0.6 * len(text):
        return ner.entities(text)
    joined, offsets, cursor = [], [], 0
    for lo, hi in windows:
        offsets.append((cursor, lo))
        joined.append(text[lo:hi])
        cursor += hi - lo + 2
    found = []
    for start, end, label in ner.entities("\n\n".join(joined)):
        base, origin = next((b, o) for b, o in reversed(offsets) if b <= start)
        found.append((origin + start - base, origin + end - base, label))
    return found


# -- Hong Kong romanised names -----------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)?")


def _hk_names(text: str) -> Iterator[tuple[int, int, float]]:
    """Runs of capitalised words around a listed surname, read as one of the HK name shapes."""
    tokens = [m for m in _TOKEN.finditer(text) if m.group(0)[0].isupper()]
    i = 0
    while i < len(tokens):
        run = [tokens[i]]
        j = i + 1
        while j < len(tokens) and len(run) < 5 and _joined(text, tokens[j - 1], tokens[j]):
            run.append(tokens[j])
            j += 1
        found = _read_run(text, run)
        if found is not None:
            yield found
        i = j


def _joined(text: str, left: re.Match[str], right: re.Match[str]) -> bool:
    """Adjacent words of one name: a single space, or "CHAN, Tai Man" (comma after a caps surname)."""
    gap = text[left.end() : right.start()]
    return gap == " " or (gap == ", " and left.group(0).isupper() and left.group(0) in SURNAMES_UPPER)


def _read_run(text: str, run: list[re.Match[str]]) -> tuple[int, int, float] | None:
    words = [m.group(0) for m in run]
    # Leading capitalised words that cannot start a name ("Dear", "Please") are dropped.
    while words and (words[0] in _NOT_NAME_WORDS or words[0].upper() in {"DEAR", "MR", "MRS", "MS", "DR"}):
        words, run = words[1:], run[1:]
    if len(words) < 2:
        return None
    best: tuple[int, int, float] | None = None
    for k, word in enumerate(words):
        upper = word.upper()
        if upper not in SURNAMES_UPPER:
            continue
        before, after = words[:k], words[k + 1 :]
        given = _given_after(after)
        english = [w for w in before if w in ENGLISH_GIVEN or w in ENGLISH_GIVEN_UPPER][-1:]
        first = k - len(english) if english and words[k - 1] in english else k
        score = 0.0
        if word.isupper() and len(word) > 1 and given and not all(w.isupper() for w in given):
            score = 0.65  # CHAN Tai Man / CHAN Tai-man / Peter CHAN Tai Man
        elif word.isupper() and given and all(w.isupper() for w in given):
            score = 0.55  # CHAN TAI MAN (HKID card style)
        elif first < k:
            score = 0.55  # Peter Chan / PETER CHAN / Peter Chan Tai Man
        elif word.istitle() and (len(given) >= 2 or (len(given) == 1 and "-" in given[0])):
            score = 0.5  # Chan Tai Man / Chan Tai-man
        elif word.istitle() and len(given) == 1:
            score = 0.3  # Chan Man: needs a context word
        elif k >= 2 and _syllables(before[-2:]) and not word.isupper():
            first, score = k - 2, 0.3  # Tai Man Chan
        if score == 0.0:
            continue
        last = k + len(given)
        if last + 1 < len(words) and words[last + 1] in ENGLISH_GIVEN and given:
            last += 1  # CHAN Tai Man Peter
        start, end = run[first].start(), run[last].end()
        value = text[start:end]
        if value.casefold() in NOT_NAMES or any(p in value.casefold() for p in _PLACE_PARTS):
            continue
        if best is None or score > best[2]:
            best = (start, end, score)
    return best


def _given_after(words: list[str]) -> list[str]:
    given = []
    for word in words[:2]:
        if not _syllables([word]):
            break
        given.append(word)
    return given


_PLACE_PARTS = tuple(p for p in NOT_NAMES if " " in p)
_PLACES = re.compile(
    r"(?i)\b(?:" + "|".join(re.escape(p) for p in sorted(NOT_NAMES, key=len, reverse=True)) + r")\b"
)


# -- Chinese names -----------------------------------------------------------------------------

_COMPOUND = "|".join(CHINESE_COMPOUND_SURNAMES)
_SINGLE = "".join(sorted(CHINESE_SURNAMES))
_TITLE = "|".join(CHINESE_TITLES)
_CHINESE_NAME = re.compile(
    rf"(?P<name>(?:{_COMPOUND}|[{_SINGLE}])[{_HAN}]{{0,2}}?)(?P<title>{_TITLE})"
    rf"|(?<![{_HAN}])(?P<alone>(?:{_COMPOUND}|[{_SINGLE}])[{_HAN}]{{1,2}})(?![{_HAN}])"
    rf"|(?:姓名|名字|客戶|客户|戶主|户主)[:：\s]*(?P<field>(?:{_COMPOUND}|[{_SINGLE}])[{_HAN}]{{1,2}})"
)


def _chinese_names(text: str) -> Iterator[tuple[int, int, float]]:
    for m in _CHINESE_NAME.finditer(text):
        if m.group("name"):
            start, end = m.span("name")
            yield start, end, 0.6 if end - start >= 2 else 0.55  # 陳大文先生, 陳先生
        elif m.group("alone"):
            yield (*m.span("alone"), 0.55)
        else:
            yield (*m.span("field"), 0.65)


# -- tables and CSV ----------------------------------------------------------------------------

_NAME_HEADERS = re.compile(
    r"^(?:(?:full|customer|client|account|cardholder|beneficiary|payee|english|chinese|applicant|"
    r"holder|contact)[ _]?)?(?:name|holder)(?:[ _](?:en|english|zh|chinese))?$"
    r"|^(?:姓名|名稱|名称|客戶名稱|客户名称|戶名|户名)$",
    re.IGNORECASE,
)


def _table_names(text: str) -> Iterator[tuple[int, int, float]]:
    """Cells under a name-like column header, in CSV rows and pipe or tab tables.

    A header is a delimited line of short cells, one of them name-like; the rows after it with the
    same delimiter and the same number of cells are read by column until the table ends.
    """
    if "\n" not in text:
        return
    columns: list[int] = []
    delimiter = ""
    width = 0
    offset = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        used = next((d for d in DELIMITERS if d in body), "")
        cells = split_cells(body, used) if used else []
        headers = [i for i, (_, _, cell) in enumerate(cells) if _NAME_HEADERS.match(cell.strip(" *:"))]
        if headers and all(len(cell) <= 40 for _, _, cell in cells):
            columns, delimiter, width = headers, used, len(cells)
        elif columns and used == delimiter and len(cells) == width:
            for i in columns:
                start, end, cell = cells[i]
                if (
                    re.search(r"[A-Za-z\u3400-\u9fff]", cell)
                    and not re.search(r"[\d@]", cell)
                    and len(cell.split()) <= 6
                ):
                    yield offset + start, offset + end, 0.6
        elif not (used and set(body) <= set(delimiter + "-=:+ ")):
            columns = []  # the table has ended (a Markdown rule line does not end it)
        offset += len(line)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop a leading title and a trailing possessive so the span is the name itself."""
    value = text[start:end]
    if m := re.match(rf"{_TITLES}\.?\s+", value):
        start += m.end()
    if text[start:end].endswith(("'s", "’s")):
        end -= 2
    return start, end


__all__ = ["ENGLISH_GIVEN", "SURNAMES", "PersonNameRecognizer"]
