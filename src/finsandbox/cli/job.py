"""`finsandbox job`: submit, follow, cancel and resume jobs on the shared compute pool; run the queue;
`job allocation` for the operator's per-workspace compute allocations."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from finsandbox.cli._common import (
    AsUser,
    JsonFlag,
    actor_of,
    console,
    group,
    open_session,
    print_json,
    table,
    user_of,
)
from finsandbox.errors import InvalidRequest

app = group("Jobs on the shared compute pool: batch trials, batch inference, fine-tuning.")
allocation_app = group("Per-workspace compute allocations (operators set them).")
app.add_typer(allocation_app, name="allocation")


def _params(pairs: list[str], params_json: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if params_json:
        try:
            loaded = json.loads(params_json)
        except ValueError as exc:
            raise InvalidRequest(f"--params-json is not JSON: {exc}", param="params-json") from None
        if not isinstance(loaded, dict):
            raise InvalidRequest("--params-json must be a JSON object", param="params-json")
        out.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidRequest(f"--param takes key=value, not {pair!r}", param="param")
        out[key.strip()] = value
    return out


def _authorize(user: Any, action: str, resource: Any) -> None:
    if user is not None:
        from finsandbox.access.authz import authorize

        authorize(user, action, resource)


def _job(s: Any, job_id: str, user: Any, action: str = "job.view") -> Any:
    from finsandbox.jobs.service import get_job

    job = get_job(s, job_id)
    _authorize(user, action, job)
    return job


def _line(d: dict[str, Any]) -> str:
    p = d["progress"]
    frac = f" {100 * p['fraction']:.0f}%" if p["fraction"] is not None else ""
    tail = f" — {d['error']}" if d["error"] else ""
    return f"job {d['id']} ({d['kind']}, {d['workspace']}): {d['state']}{frac}{tail}"


@app.command("kinds")
def job_kinds(as_json: JsonFlag = False) -> None:
    """The kinds of job that can be submitted, with their parameters."""
    from finsandbox import registry

    kinds = [
        {"name": e.name, "title": e.obj.title, "origin": e.origin, "fields": e.obj.fields}
        for e in registry.job_kinds.entries()
    ]
    if as_json:
        print_json(kinds)
        return
    table(
        "job kinds",
        ["kind", "parameters", "from"],
        [
            [
                k["name"],
                ", ".join(f"{n}{'*' if f.get('required') else ''}" for n, f in k["fields"].items()),
                k["origin"],
            ]
            for k in kinds
        ],
    )


@app.command("submit")
def job_submit(
    kind: Annotated[str, typer.Argument(help="batch_trial, batch_inference, or another kind (job kinds)")],
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="the workspace the job runs for")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="a parameter, key=value (repeat)")
    ] = None,
    params_json: Annotated[str | None, typer.Option(help="parameters as one JSON object")] = None,
    watch: Annotated[
        bool, typer.Option(help="follow it with a progress bar (the queue must be running)")
    ] = False,
    as_user: AsUser = None,
    as_json: JsonFlag = False,
) -> None:
    """Queue a job; it is checked and estimated now, and refused if the allocation cannot pay for it."""
    from finsandbox.jobs.service import as_dict, submit
    from finsandbox.programme import get_workspace

    params = _params(param or [], params_json)
    with open_session() as s:
        user = user_of(s, as_user)
        ws = get_workspace(s, workspace)
        _authorize(user, "job.submit", ws)
        job = submit(s, ws, kind, params, actor=actor_of(user))
        out = as_dict(job, slug=ws.slug)
    if as_json:
        print_json(out)
    else:
        est = ", ".join(f"{k} {v:g}" for k, v in out["estimate"].items()) or "none"
        console.print(f"job {out['id']} queued ({kind} for {ws.slug}; estimate: {est})", markup=False)
    if watch:
        raise typer.Exit(_watch(out["id"], as_user))


@app.command("list")
def job_list(
    workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="only this workspace")] = None,
    state: Annotated[str | None, typer.Option(help="only jobs in this state")] = None,
    as_user: AsUser = None,
    as_json: JsonFlag = False,
) -> None:
    """Jobs, newest first."""
    from finsandbox.jobs.service import as_dict, list_jobs
    from finsandbox.programme import get_workspace, list_workspaces

    with open_session(write=False) as s:
        user = user_of(s, as_user)
        ids: list[str] | None = None
        if workspace:
            ws = get_workspace(s, workspace)
            _authorize(user, "job.view", ws)
            ids = [ws.id]
        elif user is not None and user.role == "participant":
            ids = [w.id for w in list_workspaces(s, user=user)]
        rows = [as_dict(j) for j in list_jobs(s, workspace_ids=ids, state=state)]
    if as_json:
        print_json(rows)
        return
    table(
        "jobs",
        ["id", "workspace", "kind", "state", "progress", "tokens", "cpu s", "created"],
        [
            [
                r["id"],
                r["workspace"],
                r["kind"],
                r["state"],
                f"{r['progress']['done']}/{r['progress']['total']}",
                r["used"]["tokens"],
                f"{r['used']['cpu_seconds']:.1f}",
                r["created_at"][:19],
            ]
            for r in rows
        ],
    )


@app.command("show")
def job_show(job_id: str, as_user: AsUser = None, as_json: JsonFlag = False) -> None:
    """One job: its state, progress, what it used, its result or error."""
    from finsandbox.jobs.service import as_dict

    with open_session(write=False) as s:
        out = as_dict(_job(s, job_id, user_of(s, as_user)))
    if as_json:
        print_json(out)
        return
    console.print(_line(out), markup=False)
    console.print(f"params: {json.dumps(out['params'], ensure_ascii=False)}", markup=False)
    console.print(f"used: {json.dumps(out['used'])}; estimate: {json.dumps(out['estimate'])}", markup=False)
    if out["result"] is not None:
        console.print(f"result: {json.dumps(out['result'], ensure_ascii=False)}", markup=False)


@app.command("cancel")
def job_cancel(job_id: str, as_user: AsUser = None) -> None:
    """Cancel a queued job, or ask a running one to stop (it stops at its next check)."""
    from finsandbox.jobs.service import cancel

    with open_session() as s:
        user = user_of(s, as_user)
        job = cancel(s, _job(s, job_id, user, "job.cancel"), actor=actor_of(user))
        console.print(f"job {job.id}: {job.state}", markup=False)


@app.command("resume")
def job_resume(job_id: str, as_user: AsUser = None) -> None:
    """Queue a stopped job again; it goes on from its last checkpoint."""
    from finsandbox.jobs.service import resume

    with open_session() as s:
        user = user_of(s, as_user)
        job = resume(s, _job(s, job_id, user, "job.resume"), actor=actor_of(user))
        console.print(
            f"job {job.id}: {job.state} (from its checkpoint)"
            if job.resume_state
            else f"job {job.id}: {job.state}",
            markup=False,
        )


def _watch(job_id: str, as_user: str | None, poll: float = 1.0) -> int:
    """A progress bar until the job ends (or stops: interrupted); exit status 0 only if it succeeded."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from finsandbox.jobs.service import FINAL, as_dict

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[state]}"),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(f"job {job_id[:8]}", total=None, state="")
        while True:
            with open_session(write=False) as s:
                d = as_dict(_job(s, job_id, user_of(s, as_user)))
            p = d["progress"]
            bar.update(
                task,
                completed=p["done"],
                total=p["total"] or None,
                state=f"{d['state']} {p['message']}".strip(),
            )
            if d["state"] in FINAL or d["state"] == "interrupted":
                break
            time.sleep(poll)
    console.print(_line(d), markup=False)
    return 0 if d["state"] == "succeeded" else 1


@app.command("watch")
def job_watch(job_id: str, as_user: AsUser = None) -> None:
    """Follow a job with a progress bar; exits 0 when it succeeds, 1 when it fails, is cancelled or stops."""
    raise typer.Exit(_watch(job_id, as_user))


@app.command("artifact")
def job_artifact(
    job_id: str,
    name: Annotated[str, typer.Argument(help="e.g. outputs.jsonl")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
    as_user: AsUser = None,
) -> None:
    """A file the job produced (batch inference: outputs.jsonl)."""
    from finsandbox.jobs.service import artifact

    with open_session(write=False) as s:
        path = artifact(_job(s, job_id, user_of(s, as_user)), name)
    data = path.read_bytes()
    if output is None:
        typer.echo(data.decode("utf-8", errors="replace"), nl=False)
    else:
        output.write_bytes(data)
        console.print(f"wrote {len(data)} bytes to {output}", markup=False)


def _run_queue(until_idle: bool, max_jobs: int | None, slots: int | None, poll: float) -> None:
    from finsandbox.jobs import follow_trials
    from finsandbox.jobs.runner import Runner
    from finsandbox.store import upgrade
    from finsandbox.supervision.completion import scorecard_for_job

    upgrade()
    follow_trials(scorecard_for_job)  # a batch trial's scorecard is built when it completes
    runner = Runner(slots=slots, poll_seconds=poll)
    console.print(f"runner {runner.runner_id} working the queue", markup=False)
    try:
        runner.run(until_idle=until_idle, max_jobs=max_jobs)
    except KeyboardInterrupt:
        runner.stop()
        raise
    for job_id, state in runner.finished:
        console.print(f"job {job_id}: {state}", markup=False)


@app.command("work")
def job_work(
    max_jobs: Annotated[int | None, typer.Option(help="stop after starting this many jobs")] = None,
    slots: Annotated[
        int | None, typer.Option(help="jobs at once in this process (default FINSANDBOX_JOB_CONCURRENCY)")
    ] = None,
    poll: Annotated[float, typer.Option(help="seconds between looks at the queue")] = 1.0,
) -> None:
    """Run a runner in this process until interrupted (alongside or instead of the server's)."""
    _run_queue(False, max_jobs, slots, poll)


@app.command("run-queue")
def job_run_queue(
    slots: Annotated[int | None, typer.Option(help="jobs at once in this process")] = None,
    poll: Annotated[float, typer.Option(help="seconds between looks at the queue")] = 0.5,
) -> None:
    """Run queued jobs until none is left that this process can take, then stop."""
    _run_queue(True, None, slots, poll)


def _limit(value: str | None, name: str) -> float | None:
    if value is None or value.strip().lower() in ("none", "unlimited", ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidRequest(f"--{name} takes a number or 'none', not {value!r}", param=name) from None


@allocation_app.command("set")
def allocation_set(
    workspace: str,
    cpu_seconds: Annotated[str | None, typer.Option(help="a number, or none for no limit")] = None,
    gpu_seconds: Annotated[str | None, typer.Option(help="a number, or none for no limit")] = None,
    tokens: Annotated[str | None, typer.Option(help="a number, or none for no limit")] = None,
    as_user: AsUser = None,
    as_json: JsonFlag = False,
) -> None:
    """Set a workspace's compute allocation (what its jobs may use in all); unnamed limits are lifted."""
    from finsandbox.jobs.service import set_allocation
    from finsandbox.programme import get_workspace

    limits = {
        "cpu_seconds": _limit(cpu_seconds, "cpu-seconds"),
        "gpu_seconds": _limit(gpu_seconds, "gpu-seconds"),
        "tokens": _limit(tokens, "tokens"),
    }
    with open_session() as s:
        user = user_of(s, as_user)
        ws = get_workspace(s, workspace)
        _authorize(user, "job.allocation.set", ws)
        alloc = set_allocation(s, ws, limits, actor=actor_of(user))
    _print_allocation(ws.slug, alloc.as_dict(), as_json)


@allocation_app.command("show")
def allocation_show(workspace: str, as_user: AsUser = None, as_json: JsonFlag = False) -> None:
    """A workspace's allocation next to what its jobs used."""
    from finsandbox.jobs.service import allocation
    from finsandbox.programme import get_workspace

    with open_session(write=False) as s:
        user = user_of(s, as_user)
        ws = get_workspace(s, workspace)
        _authorize(user, "job.allocation.view", ws)
        data = allocation(s, ws.id).as_dict()
    _print_allocation(ws.slug, data, as_json)


def _print_allocation(slug: str, data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json({"workspace": slug, **data})
        return

    def fmt(v: float | None) -> str:
        return "no limit" if v is None else f"{v:g}"

    table(
        f"compute allocation of {slug}",
        ["resource", "limit", "used", "left"],
        [[r, fmt(d["limit"]), f"{d['used']:g}", fmt(d["left"])] for r, d in data.items()],
    )
