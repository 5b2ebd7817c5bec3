"""Synthetic fine-tuning data for the anti-fraud use case: compact case facts -> a structured triage.

The pairs teach a three-line triage format (typology, risk, action) that the generic embedded model
does not follow from the instruction alone, so base and tuned models differ measurably on the
held-out cases. The facts carry planted personal data (a name, an HKID, a mobile number), which the
workspace's guard policy must pseudonymise before any training sees them.

Deterministic: the same seed writes the same bytes. Run `python -m
finsandbox.usecases.anti_fraud.finetune_data [--out DIR]` to rewrite `finetune/*.jsonl`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from finsandbox.usecases.anti_fraud.generate import LABELS, _alert
from finsandbox.usecases.hk import HKData, hkd, write_jsonl

SEED = 20251203
HERE = Path(__file__).resolve().parent / "finetune"
TRAIN_FILE = "triage_train.jsonl"
HELDOUT_FILE = "triage_heldout.jsonl"
SUITE_FILE = "suite.yaml"
PER_LABEL_TRAIN = 24  # 120 training pairs
PER_LABEL_HELDOUT = 8  # 40 held-out cases

SYSTEM_PROMPT = (
    "Triage the fraud alert in three lines: TYPOLOGY (card testing, account takeover, money mule, "
    "app scam, legitimate), RISK (HIGH, MEDIUM, LOW), ACTION (ESCALATE, BLOCK CARD, CALL CUSTOMER, CLOSE)."
)
# The policy the triage encodes: one risk and one action per typology.
POLICY = {
    "card testing": ("MEDIUM", "BLOCK CARD"),
    "account takeover": ("HIGH", "ESCALATE"),
    "money mule": ("HIGH", "ESCALATE"),
    "app scam": ("HIGH", "CALL CUSTOMER"),
    "legitimate": ("LOW", "CLOSE"),
}
# The format alone, whatever the typology: what a scorer checks first.
FORMAT_PATTERN = (
    r"TYPOLOGY: (card testing|account takeover|money mule|app scam|legitimate)\n"
    r"RISK: (HIGH|MEDIUM|LOW)\n"
    r"ACTION: (ESCALATE|BLOCK CARD|CALL CUSTOMER|CLOSE)"
)


def triage(label: str) -> str:
    """The expected answer for an alert of this typology."""
    risk, action = POLICY[label]
    return f"TYPOLOGY: {label}\nRISK: {risk}\nACTION: {action}"


def _facts(hk: HKData, label: str, alert_id: str) -> str:
    """Three lines of case facts, short enough to fine-tune on two CPU cores in minutes."""
    alert = _alert(hk, label)
    flagged = alert.flagged or alert.txns
    out = sum(t.amount for t in flagged if t.direction == "out")
    inflow = sum(t.amount for t in flagged if t.direction == "in")
    days = sorted({t.when.date().isoformat() for t in flagged})
    money = ", ".join(
        part for part in (f"{hkd(out)} out" if out else "", f"{hkd(inflow)} in" if inflow else "") if part
    )
    # No free-text notes: they double a row's length, and the rule and figures decide the typology.
    return "\n".join(
        [
            f"Alert {alert_id}. {alert.person.name}, HKID {hk.hkid()}, mobile {hk.phone()}, "
            f"age {alert.age}, {alert.occupation}, customer since {alert.since}.",
            f"Rule: {alert.rule}.",
            f"Flagged: {len(flagged)} transactions, {money}, {days[0]} to {days[-1]}.",
        ]
    )


def build(seed: int = SEED) -> dict[str, list[dict[str, Any]]]:
    """Training pairs (system, prompt, completion) and held-out evaluation cases, by file name."""
    hk = HKData(seed)
    labels = [label for label in LABELS for _ in range(PER_LABEL_TRAIN + PER_LABEL_HELDOUT)]
    hk.rng.shuffle(labels)
    train: list[dict[str, Any]] = []
    heldout: list[dict[str, Any]] = []
    seen = dict.fromkeys(LABELS, 0)
    for i, label in enumerate(labels, start=1):
        facts = _facts(hk, label, f"FT-{i:04d}")
        seen[label] += 1
        if seen[label] <= PER_LABEL_HELDOUT:
            heldout.append(
                {
                    "id": f"af-ft-{i:03d}",
                    "input": facts,
                    "expected": {"label": label, "regex": _exact(label)},
                    "metadata": {"typology": label},
                    "tags": ["triage", "held-out"],
                }
            )
        else:
            train.append({"system": SYSTEM_PROMPT, "prompt": facts, "completion": triage(label)})
    return {TRAIN_FILE: train, HELDOUT_FILE: heldout}


def _exact(label: str) -> str:
    import re

    return re.escape(triage(label))


def generate(out_dir: Path | None = None, seed: int = SEED) -> list[Path]:
    """Write the training and held-out files under `out_dir` (default: the package's finetune/)."""
    root = Path(out_dir) if out_dir is not None else HERE
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, rows in build(seed).items():
        write_jsonl(root / name, rows)
        paths.append(root / name)
    return paths


def train_path() -> Path:
    return HERE / TRAIN_FILE


def suite_path() -> Path:
    """The base-versus-tuned suite: the held-out cases, scored on format and on typology."""
    return HERE / SUITE_FILE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    for path in generate(args.out, args.seed):
        print(path)


if __name__ == "__main__":
    main()
