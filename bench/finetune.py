"""Fine-tuning on this machine: training throughput, the demo fine-tune's time, base versus tuned.

    pip install -e '.[finetune]'    # with a CPU build of torch (docs/finetuning.md)
    .venv/bin/python bench/finetune.py [--steps 6] [--no-demo] [--max-cases 20]

1. loads SmolLM2-135M-Instruct from the shipped GGUF into PyTorch (seconds);
2. baseline: forward-only tokens/s on the demo's training rows (what inference-shaped work costs);
3. training tokens/s (forward, backward, AdamW on the LoRA weights) at rank 4 and rank 16, `--steps`
   steps each on the same rows, as a ratio to the forward-only baseline;
4. unless --no-demo: the demo's fine-tune end to end in a throw-away data directory (the 120
   synthetic triage pairs pseudonymised, 24 steps of 4, the GGUF adapter, the new endpoint), then
   the held-out suite on base and tuned through the gateway and `scorecard compare` (Fisher's exact
   test), as `make demo` does.

Tokens are every token through the model (prompt and completion, no padding). Absolute figures
depend on what else the cores are doing; compare the ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="training steps per rank for the throughput")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo fine-tune and comparison")
    parser.add_argument(
        "--max-cases", type=int, default=20, help="held-out cases per recipe in the comparison"
    )
    parser.add_argument("--demo-steps", type=int, default=None, help="demo fine-tune steps")
    parser.add_argument("--no-throughput", action="store_true", help="skip the throughput measurements")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="finsandbox-bench-ft-"))
    os.environ["FINSANDBOX_HOME"] = str(home)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from finsandbox.finetune import parse_params, pseudonymise, rows_from_dataset, unavailable
    from finsandbox.finetune.data import as_served

    reason = unavailable()
    if reason:
        sys.exit(reason)
    import torch

    from finsandbox.demo import FINETUNE_PARAMS
    from finsandbox.finetune import trainer
    from finsandbox.gateway.backends.llamacpp import bundled_model_path
    from finsandbox.guards import default_policy
    from finsandbox.usecases.anti_fraud.finetune_data import train_path

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    started = time.perf_counter()
    loaded = trainer.load_base(bundled_model_path())
    print(f"base model loaded from GGUF in {time.perf_counter() - started:.1f} s")

    raw = [json.loads(line) for line in train_path().read_text(encoding="utf-8").splitlines()]
    rows = as_served(pseudonymise(rows_from_dataset(raw, list(raw[0])), default_policy(), None), 0).rows
    lengths = [len(trainer.encode(loaded[1], r)[0]) for r in rows]
    print(
        f"demo rows: {len(rows)}, tokens per row: mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)}"
    )

    if args.no_throughput:
        demo(loaded, args.max_cases, args.demo_steps)
        return
    sample = rows[:16]
    forward = trainer.forward_tokens_per_second(loaded[0], loaded[1], sample, batch_size=4)
    print(f"baseline, forward only (batch 4): {forward:.0f} tokens/s")
    for rank in (4, 16):
        params = parse_params({**FINETUNE_PARAMS, "rank": rank, "alpha": 2 * rank, "max_steps": args.steps})
        result = trainer.train(bundled_model_path(), rows, params, loaded=loaded)
        print(
            f"training, LoRA rank {rank:>2} (q,k,v,o; batch 4): {result.tokens_per_second:.0f} tokens/s "
            f"({result.tokens} tokens in {result.seconds:.1f} s, "
            f"{result.tokens_per_second / forward:.2f} x forward)"
        )
    if args.no_demo:
        return
    demo(loaded, args.max_cases, args.demo_steps)


def demo(loaded: object, max_cases: int, steps: int | None) -> None:
    from finsandbox.access import create_institution, create_user
    from finsandbox.demo import ENDPOINT, FINETUNE_PARAMS
    from finsandbox.evals.datasets import upload_dataset
    from finsandbox.finetune import parse_params, run_finetune
    from finsandbox.programme import add_endpoint, add_member, create_workspace
    from finsandbox.store import session_scope, upgrade
    from finsandbox.supervision.base_vs_tuned import compare_endpoints
    from finsandbox.usecases.anti_fraud.finetune_data import train_path

    upgrade()
    owner = "owner@bench.example"
    with session_scope(write=True) as s:
        bank = create_institution(s, name="Bench Bank", kind="bank", actor="bench")
        ws = create_workspace(s, slug="bench-ft", name="bench", theme="anti_fraud", bank=bank, actor="bench")
        user = create_user(
            s, email=owner, display_name="Owner", institution=bank, password="bench-pass-123", actor="bench"
        )
        add_member(s, ws, user, role="owner", actor="bench")
        add_endpoint(s, ws, name=ENDPOINT, backend="llamacpp", config={}, actor="bench")
        upload_dataset(s, user, ws, name="triage", filename=train_path().name, data=train_path().read_bytes())

    started = time.perf_counter()
    params = parse_params({**FINETUNE_PARAMS, **({"max_steps": steps} if steps else {})})
    outcome = run_finetune("bench-ft", "triage", params, actor="bench", loaded=loaded)
    wall = time.perf_counter() - started
    t = outcome.provenance["training"]
    print(
        f"demo fine-tune ({t['steps']} steps of 4, rank 8, lr {params.learning_rate}): "
        f"{t['seconds']:.0f} s training, {wall:.0f} s with "
        f"pseudonymisation, export and registration; {t['tokens']} tokens, "
        f"{t['tokens_per_second']:.0f} tokens/s; "
        f"loss {t['loss_curve'][0]:.3f} -> {t['loss_curve'][-1]:.3f}"
    )
    started = time.perf_counter()
    result = compare_endpoints(
        "bench-ft", ENDPOINT, str(outcome.endpoint), actor="bench", max_cases=max_cases
    )
    print(f"base versus tuned on the held-out suite in {time.perf_counter() - started:.0f} s:")
    cmp = result["comparison"]
    for change in cmp["recipes"]:
        print(
            f"  {change['name']:<45} base {_pct(change['before'])} tuned {_pct(change['after'])} "
            f"(n={change['n_before']}/{change['n_after']}) p={change['p_value']:.2g} {change['verdict']}"
        )
    overall = cmp["overall"]
    print(
        f"  overall: base {_pct(overall['before'])}, tuned {_pct(overall['after'])}, "
        f"p={overall['p_value']:.2g}"
    )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


if __name__ == "__main__":
    main()
