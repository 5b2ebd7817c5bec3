"""Injection detection measured on the held-out evaluation set and on the reference suites' own texts.

    python bench/injection/evaluate.py [--repeat 3]

`bench/guards.py` prints the same report beside its PII figures. The evaluation set
(`data/eval.jsonl.gz`, see PROVENANCE.md) shares no source document with the training data; the
reference-suite texts (fraud alerts, KYC forms, credit memos, product sheets) are scored as the
gateway sees them: case inputs as user turns, corpus chunks and case documents as retrieved content.
Both the learned guard and the pattern-only guard it replaced are run, on the same texts, in one run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from finsandbox.guards import Action, GuardContext
from finsandbox.guards.injection import InjectionGuard

HERE = Path(__file__).resolve().parent
BANKING_SOURCES = ("BANKING77 questions (test split)", "reference suites: benign case inputs")


@dataclass(frozen=True)
class Item:
    text: str
    label: int
    source: str
    kind: str  # "prompt" (a user turn) or "document" (retrieved content)


def evaluation_set() -> list[Item]:
    with gzip.open(HERE / "data" / "eval.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return [Item(r["text"], int(r["label"]), r["source"], r["kind"]) for r in rows]


def reference_suite_texts() -> list[Item]:
    """Benign inputs and documents of the four reference suites, and the attacks planted in inputs."""
    from finsandbox.evals import retrieval
    from finsandbox.usecases import THEMES, theme_dir

    items: list[Item] = []
    for theme in THEMES:
        root = theme_dir(theme)
        for path in sorted((root / "cases").glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                case = json.loads(line)
                tags = set(case.get("tags", []))
                if (case.get("metadata") or {}).get("planted_instruction"):
                    items.append(Item(case["input"], 1, "reference suites: planted injections", "prompt"))
                    continue
                if tags & {"injection", "harmful"} or not isinstance(case.get("input"), str):
                    continue  # attacks by design, or carriers of planted documents: neither benign nor ours
                items.append(Item(case["input"], 0, "reference suites: benign case inputs", "prompt"))
                for doc in case.get("context", []):
                    if not (doc.get("metadata") or {}).get("planted"):
                        items.append(
                            Item(doc["text"], 0, "reference suites: retrieved documents", "document")
                        )
        corpus_dir = root / "corpus"
        if corpus_dir.exists():
            for chunk in retrieval.corpus(corpus_dir).chunks:
                items.append(Item(chunk.text, 0, "reference suites: retrieved documents", "document"))
    return items


Detector = Callable[[Item], bool]


def detector(guard: InjectionGuard) -> Detector:
    def blocked(item: Item) -> bool:
        source = "retrieved" if item.kind == "document" else "user"
        return guard.check(item.text, GuardContext(source=source)).action is Action.BLOCK

    return blocked


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return precision, recall, f1


def counts(flags: list[bool], items: list[Item]) -> tuple[int, int, int, int]:
    tp = sum(f and i.label == 1 for f, i in zip(flags, items, strict=True))
    fp = sum(f and i.label == 0 for f, i in zip(flags, items, strict=True))
    fn = sum(not f and i.label == 1 for f, i in zip(flags, items, strict=True))
    tn = sum(not f and i.label == 0 for f, i in zip(flags, items, strict=True))
    return tp, fp, fn, tn


def p50_ms_per_kb(guard: InjectionGuard, repeat: int, text: str, source: str = "user") -> tuple[float, float]:
    """Median and p95 milliseconds per KB of one check of `text`, one thread."""
    context = GuardContext(source=source)
    size_kb = len(text.encode()) / 1024
    for _ in range(10):
        guard.check(text, context)
    timings = []
    for _ in range(max(repeat, 1) * (100 if size_kb < 2 else 20)):
        start = time.perf_counter()
        guard.check(text, context)
        timings.append((time.perf_counter() - start) * 1000 / size_kb)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def timing_texts(reference: list[Item]) -> dict[str, tuple[str, str]]:
    """A 1 KB fraud-alert prompt and a ~10 KB retrieved document built from the suites' corpus."""
    alert = (
        "Alert AF-2211. Rule triggered: several card-not-present payments within minutes. Customer "
        "since 2014, salaried, card used in Hong Kong the same afternoon. Transactions: HK$5.00 eShop "
        "Asia approved; HK$10.00 QuickTopUp Online declined; HK$7.00 CloudApps Billing approved; "
        "HK$4,310.00 GlobalGiftCards approved. Notes: the customer called at 14:05 to say the card "
        "is in her wallet and she did not make the online purchases; she asks whether the card should "
        "be replaced and whether the gift-card charge can be disputed. "
    )
    documents = "\n\n".join(i.text for i in reference if i.kind == "document")
    return {
        "1 KB prompt": ((alert * 3)[:1024], "user"),
        "10 KB retrieved document": (documents[:10240], "retrieved"),
    }


def injection_report(repeat: int = 3) -> dict[str, float]:
    """Print per-source and overall figures for the learned guard and the pattern-only baseline."""
    held_out = evaluation_set()
    reference = reference_suite_texts()
    guards = {"learned": InjectionGuard(), "patterns only": InjectionGuard({"model": False})}
    print("prompt injection: held-out evaluation set (no source document shared with training)")
    results: dict[str, float] = {}
    for label, items in (("evaluation set", held_out), ("reference suites", reference)):
        flags = {name: [detector(g)(i) for i in items] for name, g in guards.items()}
        print(f"\n{label}: {len(items)} texts")
        print(f"{'source':<58}{'n':>5}" + "".join(f"{name + ' P / R / F1':>30}" for name in guards))
        for source in sorted({i.source for i in items}):
            picked = [k for k, i in enumerate(items) if i.source == source]
            subset = [items[k] for k in picked]
            cells = []
            for name in guards:
                tp, fp, fn, tn = counts([flags[name][k] for k in picked], subset)
                if tp + fn == 0:  # benign only: precision/recall undefined, report what passes
                    cells.append(f"passed {tn}/{tn + fp} (FP {fp})")
                else:
                    p, r, f1 = prf(tp, fp, fn)
                    cells.append(f"{p:.2f} / {r:.2f} / {f1:.2f}")
            print(f"{source[:57]:<58}{len(subset):>5}" + "".join(f"{c:>30}" for c in cells))
        for name in guards:
            tp, fp, fn, _ = counts(flags[name], items)
            p, r, f1 = prf(tp, fp, fn)
            tally = f"(tp {tp} fp {fp} fn {fn})"
            print(f"{'all, ' + name:<58}{len(items):>5}   P {p:.3f}  R {r:.3f}  F1 {f1:.3f}  {tally}")
            results[f"{label}/{name}/f1"] = f1
            results[f"{label}/{name}/precision"] = p
            results[f"{label}/{name}/recall"] = r
        if label == "evaluation set":
            attacks = [k for k, i in enumerate(items) if i.label == 1]
            banking = [k for k, i in enumerate(items) if i.source in BANKING_SOURCES]
            picked = attacks + banking
            for name in guards:
                tp, fp, fn, _ = counts([flags[name][k] for k in picked], [items[k] for k in picked])
                p, r, f1 = prf(tp, fp, fn)
                label_ = "attacks + benign banking questions, " + name
                print(f"{label_:<58}{len(picked):>5}   P {p:.3f}  R {r:.3f}")
                results[f"banking/{name}/precision"] = p
    model = guards["learned"].model()
    threshold = guards["learned"].settings.threshold or model.threshold
    print(f"\nlatency per KB, one thread (threshold {threshold:.2f}; target p50 <= 10 ms per KB)")
    for name, (text, source) in timing_texts(reference).items():
        p50, p95 = p50_ms_per_kb(guards["learned"], repeat, text, source)
        base50, _ = p50_ms_per_kb(guards["patterns only"], repeat, text, source)
        print(
            f"  {name:<26} learned p50 {p50:.2f} ms, p95 {p95:.2f} ms; "
            f"patterns only p50 {base50:.2f} ms (ratio {p50 / base50:.1f}x)"
        )
        results[f"p50_ms_per_kb/{name}"] = p50
    print("targets: F1 >= 0.85, precision >= 0.95 with benign banking questions")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    injection_report(parser.parse_args().repeat)


if __name__ == "__main__":
    main()
