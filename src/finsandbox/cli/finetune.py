"""`finsandbox finetune`: LoRA fine-tuning of the embedded model, and base versus tuned."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from finsandbox.cli._common import (
    AsUser,
    JsonFlag,
    console,
    group,
    open_session,
    pct,
    print_json,
    table,
    user_of,
)

app = group("Fine-tune the embedded model with LoRA on a workspace dataset; compare base and tuned.")

Opt = typer.Option


@app.command("run")
def finetune_run(
    workspace: Annotated[str, Opt("--workspace", "-w", help="workspace slug")],
    dataset: Annotated[str, Opt("--dataset", "-d", help="dataset id or name (prompt/completion columns)")],
    base: Annotated[str | None, Opt("--base", help="the embedded endpoint to start from")] = None,
    rank: Annotated[int | None, Opt("--rank", help="LoRA rank (default 8)")] = None,
    alpha: Annotated[float | None, Opt("--alpha", help="LoRA alpha (default 16)")] = None,
    dropout: Annotated[float | None, Opt("--dropout")] = None,
    learning_rate: Annotated[float | None, Opt("--lr", help="learning rate (default 2e-3)")] = None,
    epochs: Annotated[int | None, Opt("--epochs")] = None,
    max_steps: Annotated[int | None, Opt("--max-steps")] = None,
    batch_size: Annotated[int | None, Opt("--batch-size")] = None,
    max_seq_len: Annotated[int | None, Opt("--max-seq-len")] = None,
    target_modules: Annotated[str | None, Opt("--target-modules", help="e.g. q_proj,v_proj")] = None,
    seed: Annotated[int | None, Opt("--seed")] = None,
    device: Annotated[str | None, Opt("--device", help="cpu (default), cuda or auto")] = None,
    lora_scale: Annotated[float | None, Opt("--lora-scale", help="scale the adapter is served at")] = None,
    job: Annotated[
        bool,
        Opt("--job/--inline", help="queue it as a `finetune` job (charged to the allocation) or run it here"),
    ] = False,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Train a LoRA adapter and register it as a new endpoint (<base>-ft-<n>), with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from finsandbox.cli._common import actor
    from finsandbox.finetune import parse_params, require_available, run_finetune

    flags = {
        "rank": rank,
        "alpha": alpha,
        "dropout": dropout,
        "learning_rate": learning_rate,
        "epochs": epochs,
        "max_steps": max_steps,
        "batch_size": batch_size,
        "max_seq_len": max_seq_len,
        "target_modules": target_modules,
        "seed": seed,
        "device": device,
        "lora_scale": lora_scale,
    }
    names = {"learning_rate": "--lr"}
    try:
        params = parse_params(flags)
    except Exception as exc:
        param = getattr(exc, "param", None)
        if param in flags:
            exc.message = exc.message.replace(  # type: ignore[attr-defined]
                f"parameter {param}", f"option {names.get(param, '--' + param.replace('_', '-'))}"
            )
        raise
    require_available()
    who = f"user:{as_user}" if as_user else actor()
    if job:
        from finsandbox.access.authz import authorize
        from finsandbox.jobs.service import as_dict, submit
        from finsandbox.programme import get_workspace

        with open_session() as s:
            user = user_of(s, as_user)
            ws = get_workspace(s, workspace, user=user)
            if user is not None:
                authorize(user, "job.submit", ws)
            values = {"dataset": dataset, "base": base, **{k: v for k, v in flags.items() if v is not None}}
            out = as_dict(submit(s, ws, "finetune", values, actor=who), slug=ws.slug)
        if as_json:
            print_json(out)
        else:
            console.print(
                f"job {out['id']} queued (finetune for {workspace}); finsandbox job watch {out['id']}"
            )
        return
    with open_session(write=False) as s:  # migrates a fresh database first
        user_of(s, as_user)
    with Progress(
        TextColumn("[bold]fine-tuning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    ) as progress:
        task = progress.add_task("train", total=None, loss="-")

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(task, completed=step, total=total, loss=f"{loss:.3f}")

        outcome = run_finetune(
            workspace, dataset, params, actor=who, user_email=as_user, base_endpoint=base, on_step=on_step
        )
    if as_json:
        print_json({"endpoint": outcome.endpoint, "ledger_seq": outcome.seq, **outcome.provenance})
        return
    t = outcome.provenance["training"]
    console.print(
        f"endpoint [bold]{outcome.endpoint}[/] registered in {workspace}: {t['steps']} steps, "
        f"{t['tokens']:,} tokens in {t['seconds']:.0f} s "
        f"({t['tokens_per_second']:.0f} tokens/s on {t['device']}), "
        f"loss {t['loss_curve'][0]:.3f} -> {t['loss_curve'][-1]:.3f}; ledger entry {outcome.seq}",
        soft_wrap=True,
    )
    console.print(f"adapter sha256 {outcome.adapter_sha256}", soft_wrap=True, highlight=False)


@app.command("list")
def finetune_list(
    workspace: Annotated[str, Opt("--workspace", "-w", help="workspace slug")],
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """The workspace's fine-tuned endpoints and their provenance."""
    from finsandbox.finetune import list_finetunes

    with open_session(write=False) as s:
        items = list_finetunes(s, workspace, user=user_of(s, as_user))
    if as_json:
        print_json(items)
        return
    table(
        f"fine-tunes of {workspace}",
        ["endpoint", "base", "dataset", "rank", "steps", "loss", "tokens", "seconds", "adapter", "ledger"],
        [
            [
                i["endpoint"],
                i.get("base_endpoint") or "-",
                i["dataset"]["name"],
                i["params"]["rank"],
                i["training"]["steps"],
                f"{i['training']['loss_curve'][0]:.3f} -> {i['training']['loss_curve'][-1]:.3f}",
                f"{i['training']['tokens']:,}",
                i["training"]["seconds"],
                i["adapter"]["sha256"][:12],
                i["seq"],
            ]
            for i in items
        ],
    )


@app.command("chart")
def finetune_chart(
    workspace: Annotated[str, Opt("--workspace", "-w", help="workspace slug")],
    endpoint: Annotated[str, typer.Argument(help="the fine-tuned endpoint")],
    out: Annotated[Path, Opt("--out", "-o", help="SVG file to write")],
    as_user: AsUser = None,
) -> None:
    """Write the fine-tune's loss curve as an SVG chart."""
    from finsandbox.finetune import get_finetune
    from finsandbox.reports.charts import loss_chart

    with open_session(write=False) as s:
        item = get_finetune(s, workspace, endpoint, user=user_of(s, as_user))
    out.write_text(loss_chart(item["training"]["loss_curve"], f"{endpoint}: training loss"), encoding="utf-8")
    console.print(f"wrote {out}")


def print_comparison(result: dict[str, Any]) -> None:
    """The comparison's recipes and principles, with p-values, as tables (shared with the demo)."""
    cmp = result["comparison"]
    for title, key in (("by recipe", "recipes"), ("by principle, inherent (the model alone)", "inherent")):
        table(
            f"{result['base']['endpoint']} -> {result['tuned']['endpoint']} {title} "
            f"({cmp['test']}, p < {cmp['significance']})",
            ["name", "base", "tuned", "n", "change", "p", "verdict"],
            [
                [
                    c["name"],
                    pct(c["before"]),
                    pct(c["after"]),
                    f"{c['n_before']}/{c['n_after']}",
                    "-" if c["delta"] is None else f"{100 * c['delta']:+.0f} pts",
                    "-" if c["p_value"] is None else f"{c['p_value']:.2g}",
                    c["verdict"],
                ]
                for c in cmp[key]
                if c["verdict"] != "no data"
            ],
        )
    console.print(
        f"trials: base {result['base']['trial_id']}, tuned {result['tuned']['trial_id']}; "
        f"better: {', '.join(cmp['better']) or 'nothing'}; worse: {', '.join(cmp['worse']) or 'nothing'}",
        soft_wrap=True,
    )


@app.command("compare")
def finetune_compare(
    workspace: Annotated[str, Opt("--workspace", "-w", help="workspace slug")],
    base: Annotated[str, Opt("--base", help="the base endpoint")],
    tuned: Annotated[str, Opt("--tuned", help="the tuned endpoint")],
    suite: Annotated[
        str | None, Opt("--suite", help="a theme or suite file; default: the held-out fraud-triage suite")
    ] = None,
    max_cases: Annotated[int | None, Opt("--max-cases", help="at most this many cases per recipe")] = None,
    max_tokens: Annotated[int, Opt("--max-tokens")] = 48,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Run the same suite on both endpoints and compare their scorecards (Fisher's exact test)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from finsandbox.cli._common import actor
    from finsandbox.supervision.base_vs_tuned import compare_endpoints

    if max_cases is not None and max_cases < 1:
        from finsandbox.errors import InvalidRequest

        raise InvalidRequest("--max-cases must be at least 1", param="max_cases")
    with open_session(write=False) as s:  # migrates a fresh database first
        user_of(s, as_user)
    with Progress(
        TextColumn("[bold]{task.description:<6}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    ) as progress:
        tasks = {w: progress.add_task(w, total=None) for w in ("base", "tuned")}

        def on_progress(which: str, done: int, total: int) -> None:
            progress.update(tasks[which], completed=done, total=total)

        result = compare_endpoints(
            workspace,
            base,
            tuned,
            suite=suite,
            actor=f"user:{as_user}" if as_user else actor(),
            user_email=as_user,
            max_cases=max_cases,
            max_tokens=max_tokens,
            on_progress=on_progress,
        )
    if as_json:
        print_json(result)
        return
    print_comparison(result)
