"""Benchmark: our guards against same-run baselines, one run.

    python bench/guards.py [--seed 0] [--repeat 3] [--pii-texts 400]

PII (see bench/_pii.py): recall per entity type, leak rate and over-redaction of harmless numbers
against Presidio on the Hong Kong banking corpus of tests/guards/hk_pii_corpus.py (tuning and
held-out splits), the p50 for a 200-byte chat turn and the guard CLI's start-up.

Then the older detector comparison: latency per KB (short chat turns, ~1 KB and ~10 KB documents
with planted HK PII) and
precision/recall per entity type on the seeded labelled set from `finsandbox.guards.pii.fake`, for
our detector with NER off and on, and for Presidio built on the same `en_core_web_sm` package,
loaded offline. Then times the whole default input+output guard stack on a 1 KB prompt.
Targets: NER off >=10x faster than Presidio with equal or better structured-PII recall; NER on no
slower than Presidio with person-name recall within 5 points; stack p50 <= 10 ms.

Then the injection guard (`injection/evaluate.py`): precision, recall and F1 per source on the
held-out evaluation set and on the reference suites' texts, beside the pattern-only guard it
replaced, and p50 per KB on one thread. Targets: F1 >= 0.85, banking precision >= 0.95, p50 <= 10 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable

from finsandbox.guards import GuardContext, Pipeline, default_policy
from finsandbox.guards.pii import ENTITY_TYPES, detect, ner
from finsandbox.guards.pii.fake import Labelled, labelled_set
from injection.evaluate import injection_report

# Presidio's entity names mapped to ours; predictions of other types are ignored, not counted wrong.
PRESIDIO_TO_OURS = {
    "EMAIL_ADDRESS": "EMAIL",
    "CREDIT_CARD": "PAYMENT_CARD",
    "IBAN_CODE": "IBAN",
    "PHONE_NUMBER": "HK_PHONE",
    "PERSON": "PERSON",
    "DATE_TIME": "DATE_OF_BIRTH",
    "US_PASSPORT": "PASSPORT",
    "UK_PASSPORT": "PASSPORT",
    "US_BANK_NUMBER": "HK_BANK_ACCOUNT",
}
STRUCTURED = [t for t in ENTITY_TYPES if t != "PERSON"]

Detector = Callable[[str], list[tuple[int, int, str]]]


def ours(use_ner: bool) -> Detector:
    def run(text: str) -> list[tuple[int, int, str]]:
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

    def run(text: str) -> list[tuple[int, int, str]]:
        results = analyzer.analyze(text=text, language="en")
        return [
            (r.start, r.end, PRESIDIO_TO_OURS[r.entity_type])
            for r in results
            if r.entity_type in PRESIDIO_TO_OURS
        ]

    return run


def ms_per_kb(detector: Detector, texts: list[Labelled], repeat: int) -> float:
    size_kb = sum(len(t.text.encode()) for t in texts) / 1024
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for item in texts:
            detector(item.text)
        best = min(best, time.perf_counter() - start)
    return best * 1000 / size_kb


def score(detector: Detector, texts: list[Labelled]) -> tuple[Counter[str], Counter[str], Counter[str]]:
    tp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    for item in texts:
        predicted = detector(item.text)
        for start, end, kind in item.spans:
            hit = any(k == kind and s < end and e > start for s, e, k in predicted)
            (tp if hit else fn)[kind] += 1
        for start, end, kind in predicted:
            if not any(k == kind and s < end and e > start for s, e, k in item.spans):
                fp[kind] += 1
    return tp, fn, fp


def pr(tp: int, fn: int, fp: int) -> tuple[float, float]:
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    return precision, recall


def stack_p50(iterations: int, prompt: str, reply: str) -> tuple[float, float]:
    pipeline = Pipeline.from_policy(default_policy())
    timings = []
    for i in range(iterations + 20):
        start = time.perf_counter()
        context = GuardContext(customer_facing=True, canary="fsb-canary-0123456789abcdef")
        pipeline.check_messages([{"role": "user", "content": prompt}], context)
        pipeline.check_output(reply, context)
        if i >= 20:  # warm-up excluded
            timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="timing repetitions; the best is kept")
    parser.add_argument("--pii-texts", type=int, default=400, help="texts per PII corpus split")
    args = parser.parse_args()
    pii_section(args)


def pii_section(args: argparse.Namespace) -> None:
    """The PII half: the HK corpus against Presidio, then latency per KB and the guard stack."""
    import _pii

    _pii.report(args.pii_texts)
    print()

    data = labelled_set(args.seed)
    everything = [item for items in data.values() for item in items]
    print(f"labelled set (seed {args.seed}): " + ", ".join(f"{k}: {len(v)} texts" for k, v in data.items()))
    print(
        f"planted entities: {sum(len(t.spans) for t in everything)}; spaCy package: {ner.model_package()}\n"
    )

    ner.load()
    detectors = {"ours NER off": ours(False), "ours NER on": ours(True), "presidio": presidio()}
    for detector in detectors.values():  # warm up every model before timing
        detector(everything[0].text)

    print("latency, ms per KB (lower is better)")
    print(
        f"{'texts':<8}"
        + "".join(f"{name:>16}" for name in detectors)
        + f"{'off speed-up':>14}{'on speed-up':>13}"
    )
    for label, texts in data.items():
        times = {name: ms_per_kb(d, texts, args.repeat) for name, d in detectors.items()}
        off, on, base = times["ours NER off"], times["ours NER on"], times["presidio"]
        print(
            f"{label:<8}"
            + "".join(f"{t:>16.3f}" for t in times.values())
            + f"{base / off:>13.1f}x{base / on:>12.1f}x"
        )

    print("\nprecision / recall per entity type (all texts)")
    scores = {name: score(d, everything) for name, d in detectors.items()}
    print(f"{'entity':<16}{'n':>5}" + "".join(f"{name:>18}" for name in detectors))
    for kind in ENTITY_TYPES:
        n = scores["presidio"][0][kind] + scores["presidio"][1][kind]
        cells = []
        for tp, fn, fp in scores.values():
            p, r = pr(tp[kind], fn[kind], fp[kind])
            cells.append(f"{p:>8.2f} / {r:<7.2f}")
        print(f"{kind:<16}{n:>5}" + "".join(f"{c:>18}" for c in cells))
    print()
    for name, (tp, fn, fp) in scores.items():
        s_p, s_r = pr(
            sum(tp[k] for k in STRUCTURED), sum(fn[k] for k in STRUCTURED), sum(fp[k] for k in STRUCTURED)
        )
        p_p, p_r = pr(tp["PERSON"], fn["PERSON"], fp["PERSON"])
        print(f"{name:<14} structured PII P/R {s_p:.3f}/{s_r:.3f}   person names P/R {p_p:.3f}/{p_r:.3f}")

    prompt = data["1kb"][0].text
    reply = data["1kb"][1].text
    p50, p95 = stack_p50(300, prompt, reply)
    print(
        f"\ndefault input+output guard stack (names on), {len(prompt)}-char prompt + "
        f"{len(reply)}-char reply: "
        f"p50 {p50:.2f} ms, p95 {p95:.2f} ms (target p50 <= 10 ms)"
    )
    print()
    injection_report(args.repeat)


if __name__ == "__main__":
    main()
