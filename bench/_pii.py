"""The PII half of `bench/guards.py`: recall per entity type, leak rate and over-redaction, ours vs Presidio.

The texts come from the labelled corpus in `tests/guards/hk_pii_corpus.py` (chat turns, e-mails,
CSV rows, tables, KYC forms, call notes), in its two splits: `tune` (what the recognisers were
developed against) and `heldout` (other seed, other templates, other names; never tuned on).

For each detector and split:

* caught: a planted value overlapped by any detected span (redaction does not care about the type);
* leak rate: planted values with any letter or digit left uncovered (what a reader still sees);
* over-redaction: harmless numbers (references, amounts, dates, branch codes, order and ticket
  numbers, OTP codes) touched by a detected span;
* name recall: PERSON values caught, the figure issue 12 compares with Presidio.

Presidio runs with its default recognisers and threshold on the same spaCy package, offline;
everything it returns counts as redacted, as its anonymizer would do.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the corpus generator lives with the tests

from tests.guards.hk_pii_corpus import ENTITY_TYPES, Item, corpus  # noqa: E402

from finsandbox.guards.pii import detect, ner  # noqa: E402

Found = list[tuple[int, int, str]]
Detector = Callable[[str], Found]


def ours(use_ner: bool) -> Detector:
    def run(text: str) -> Found:
        return [(s.start, s.end, s.entity_type) for s in detect(text, ner=use_ner)]

    return run


def presidio() -> Detector:
    import tldextract.tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    # Presidio's email check asks tldextract, which would fetch the public-suffix list over the
    # network; use the snapshot bundled with tldextract instead, so the run is offline and quiet.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": ner.model_package()}])
    engine.load()  # an installed package: spaCy loads it from site-packages, nothing is downloaded
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])

    def run(text: str) -> Found:
        return [(r.start, r.end, r.entity_type) for r in analyzer.analyze(text=text, language="en")]

    return run


def _covered(text: str, start: int, end: int, found: Found) -> bool:
    """Every letter and digit of text[start:end] lies inside some detected span."""
    return all(any(s <= i < e for s, e, _ in found) for i in range(start, end) if text[i].isalnum())


def evaluate(detector: Detector, items: list[Item]) -> dict[str, Counter[str]]:
    caught: Counter[str] = Counter()
    total: Counter[str] = Counter()
    leaked: Counter[str] = Counter()
    harmless_hit: Counter[str] = Counter()
    harmless_total: Counter[str] = Counter()
    for item in items:
        found = detector(item.text)
        for start, end, kind in item.spans:
            total[kind] += 1
            if any(s < end and e > start for s, e, _ in found):
                caught[kind] += 1
            if not _covered(item.text, start, end, found):
                leaked[kind] += 1
        for start, end, kind in item.harmless:
            harmless_total[kind] += 1
            if any(s < end and e > start for s, e, _ in found):
                harmless_hit[kind] += 1
    return {
        "caught": caught,
        "total": total,
        "leaked": leaked,
        "harmless_hit": harmless_hit,
        "harmless_total": harmless_total,
    }


def _rate(num: int, den: int) -> str:
    return f"{num / den:.2f}" if den else "  - "


def p50_ms(detector: Detector, text: str, iterations: int = 200) -> tuple[float, float]:
    """(wall, CPU) medians in ms. On a shared machine the CPU time is the honest figure: wall time
    then includes waiting for a core."""
    for _ in range(20):
        detector(text)
    wall, cpu = [], []
    for _ in range(iterations):
        start, start_cpu = time.perf_counter(), time.process_time()
        detector(text)
        cpu.append((time.process_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return statistics.median(wall), statistics.median(cpu)


CHAT_TURN = (
    "Hi, CHAN Tai Man here. I was called from 852 9123 4567 about my HSBC account, and Mary asked "
    "me to confirm my details before the transfer of HKD 5,000 on 12/03/2024. Is that really you?"
)


def cli_startup_s(runs: int = 3) -> tuple[float, float]:
    """Median wall and CPU time (user + system, of the child) of `finsandbox guard check` on a chat turn."""
    import resource

    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "finsandbox", "guard", "check", "-"],
            input=CHAT_TURN.encode(),
            capture_output=True,
            check=True,
        )
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def report(n: int = 400) -> None:
    """Print the PII comparison for both corpus splits, then latency and CLI start-up."""
    started = time.perf_counter()
    ner.load()
    print(
        f"name model: {ner.model_package()} ({', '.join(ner.load().pipe_names)}), "
        f"loaded in {time.perf_counter() - started:.2f} s"
    )
    detectors = {"ours": ours(True), "ours names off": ours(False), "presidio": presidio()}
    for split in ("tune", "heldout"):
        items = corpus(split, n)
        results = {name: evaluate(d, items) for name, d in detectors.items()}
        planted = sum(results["ours"]["total"].values())
        harmless = sum(results["ours"]["harmless_total"].values())
        print(
            f"\nPII, {split} split: {len(items)} texts, {planted} planted values, {harmless} harmless numbers"
        )
        print(f"{'caught per type':<18}{'n':>5}" + "".join(f"{name:>16}" for name in detectors))
        for kind in ENTITY_TYPES:
            n_kind = results["ours"]["total"][kind]
            if n_kind:
                cells = "".join(f"{_rate(r['caught'][kind], n_kind):>16}" for r in results.values())
                print(f"{kind:<18}{n_kind:>5}{cells}")
        rows = {
            "recall (all types)": lambda r: _rate(sum(r["caught"].values()), sum(r["total"].values())),
            "leak rate": lambda r: _rate(sum(r["leaked"].values()), sum(r["total"].values())),
            "over-redaction": lambda r: _rate(
                sum(r["harmless_hit"].values()), sum(r["harmless_total"].values())
            ),
        }
        for label, cell in rows.items():
            print(f"{label:<23}" + "".join(f"{cell(r):>16}" for r in results.values()))
        kinds = sorted(results["ours"]["harmless_total"])
        print(
            "over-redaction by kind: "
            + ", ".join(
                f"{k} "
                + "/".join(_rate(r["harmless_hit"][k], r["harmless_total"][k]) for r in results.values())
                for k in kinds
            )
            + f"  ({' / '.join(detectors)})"
        )

    turn_bytes = len(CHAT_TURN.encode())
    timings = {name: p50_ms(d, CHAT_TURN) for name, d in detectors.items()}
    print(f"\nlatency, one {turn_bytes}-byte chat turn, p50 wall / CPU ms (target for ours <= 5):")
    for name, (wall, cpu) in timings.items():
        print(f"  {name:<16}{wall:>8.2f} /{cpu:>7.2f}")
    ratio = timings["presidio"][1] / timings["ours"][1]
    print(f"  presidio takes {ratio:.1f}x the CPU time of ours (names on)")
    wall, cpu = cli_startup_s()
    print(
        f"guard CLI start-up (`finsandbox guard check`, default policy): {wall:.2f} s wall, "
        f"{cpu:.2f} s CPU (target <= 2)"
    )
