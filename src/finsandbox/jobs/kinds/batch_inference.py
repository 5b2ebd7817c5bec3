"""batch_inference: each row of a workspace dataset sent through the gateway to one endpoint; the answers
written as JSON lines (`outputs.jsonl`) in the job's directory, downloadable from the job.

The calls use a key made for this run of the job (revoked when it stops), so the workspace's guards,
metering and ledger apply to every row exactly as to any participant's call. After each row the file
is flushed and the checkpoint records the next row and the file's length: a resumed job first cuts
the file back to that length, so a row the dead runner was half-way through is answered again and
written once, never twice. Tokens are charged from each answer's metered usage.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, ClassVar

import httpx
from sqlalchemy import select

from finsandbox.access.keys import create_key, get_key, revoke_key
from finsandbox.errors import InvalidRequest, NotFound, UpstreamError
from finsandbox.evals.client import make_http_client
from finsandbox.gateway.endpoints import get_endpoint
from finsandbox.jobs.base import JobCancelled, JobContext, JobKind, int_param, job_kind
from finsandbox.store.models import Dataset, Workspace

ARTIFACT = "outputs.jsonl"
PROMPT_TOKENS_PER_ROW = 200  # a rough prompt size for the estimate; the charge is what was metered
MAX_ROWS = 100_000
MAX_CONSECUTIVE_ERRORS = 10


def find_dataset(session: Any, workspace_id: str, name: str) -> Dataset:
    """A dataset of the workspace by name (or id)."""
    ds = session.scalars(
        select(Dataset).where(Dataset.workspace_id == workspace_id, Dataset.name == name)
    ).first()
    if ds is None:
        ds = session.scalars(
            select(Dataset).where(Dataset.workspace_id == workspace_id, Dataset.id == name)
        ).first()
    if ds is None:
        raise NotFound(f"the workspace has no dataset {name!r}", param="dataset")
    return ds


@job_kind("batch_inference")
class BatchInference(JobKind):
    title = "Batch inference"
    fields: ClassVar[dict[str, dict[str, Any]]] = {
        "dataset": {
            "label": "Dataset",
            "type": "str",
            "required": True,
            "help": "a dataset of the workspace",
        },
        "endpoint": {"label": "Endpoint", "type": "str", "required": True, "help": "the endpoint to call"},
        "column": {"label": "Input column", "type": "str", "required": False, "default": "input"},
        "system": {"label": "System prompt", "type": "str", "required": False},
        "max_rows": {"label": "At most this many rows", "type": "int", "required": False},
        "max_tokens": {"label": "Max tokens per answer", "type": "int", "required": False, "default": 128},
    }

    def validate(self, params: dict[str, Any], *, session: Any, workspace_id: str) -> dict[str, Any]:
        self.reject_unknown(params, also=("temperature",))
        name = str(params.get("dataset") or "").strip()
        if not name:
            raise InvalidRequest("name the dataset whose rows to send", param="dataset")
        ds = find_dataset(session, workspace_id, name)
        endpoint = str(params.get("endpoint") or "").strip()
        if not endpoint:
            raise InvalidRequest("name the endpoint to call", param="endpoint")
        try:
            get_endpoint(session, workspace_id, endpoint)
        except NotFound as exc:
            raise NotFound(exc.message, param="endpoint", code=exc.code) from None
        column = str(params.get("column") or "input").strip()
        if column not in (ds.columns or []):
            raise InvalidRequest(
                f"dataset {ds.name!r} has no column {column!r} (it has: {', '.join(ds.columns or [])})",
                param="column",
            )
        max_rows = int_param(params, "max_rows", min(ds.row_count, MAX_ROWS), 1, MAX_ROWS)
        try:
            temperature = float(params.get("temperature", 0.0) or 0.0)
        except (TypeError, ValueError):
            raise InvalidRequest("temperature must be a number", param="temperature") from None
        if not 0.0 <= temperature <= 2.0:
            raise InvalidRequest("temperature must be between 0 and 2", param="temperature")
        return {
            "dataset": ds.name,
            "dataset_id": ds.id,
            "dataset_sha256": ds.sha256,
            "endpoint": endpoint,
            "column": column,
            "system": str(params["system"])[:4000] if params.get("system") else None,
            "rows": min(max_rows, ds.row_count),
            "max_tokens": int_param(params, "max_tokens", 128, 1, 8192),
            "temperature": temperature,
        }

    def estimate(self, params: dict[str, Any]) -> dict[str, float]:
        rows = int(params.get("rows") or 0)
        return {"tokens": float(rows * (PROMPT_TOKENS_PER_ROW + int(params.get("max_tokens") or 128)))}

    def run(self, ctx: JobContext) -> dict[str, Any]:
        p = ctx.params
        state = dict(ctx.resume_state or {})
        start = int(state.get("next_row") or 0)
        with ctx.session() as s:
            ds = s.get(Dataset, p["dataset_id"])
            if ds is None or ds.workspace_id != ctx.workspace_id:
                raise InvalidRequest(f"dataset {p['dataset']!r} was deleted", param="dataset")
            if ds.sha256 != p["dataset_sha256"]:
                raise InvalidRequest(
                    f"dataset {p['dataset']!r} changed since the job was submitted", param="dataset"
                )
            rows = list(ds.rows[: p["rows"]])
            ws = s.get(Workspace, ctx.workspace_id)
            assert ws is not None
            old = state.get("key_prefix")
            if old:
                old_key = get_key(s, old)
                if old_key.revoked_at is None:  # a dead runner never revoked it
                    revoke_key(s, old_key, actor=f"job:{ctx.job_id}")
            new = create_key(s, ws, name=f"job {ctx.job_id}", actor=f"job:{ctx.job_id}")
            secret, prefix = new.secret, new.key.prefix
        path = ctx.work_dir / ARTIFACT
        # Cut back to what the last checkpoint covered: a row written after it is answered again, once.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(fd, int(state.get("bytes") or 0))
        os.close(fd)
        state.update(key_prefix=prefix, artifacts=[ARTIFACT])
        ctx.checkpoint({**state, "next_row": start, "bytes": path.stat().st_size})
        total = len(rows)
        ctx.progress(start, total, f"{start}/{total} rows")
        counts = {"ok": 0, "blocked": 0, "errors": 0, **(state.get("counts") or {})}
        try:
            asyncio.run(self._rows(ctx, rows, start, secret, prefix, path, counts))
        finally:
            with ctx.session() as s:
                key = get_key(s, prefix)
                if key.revoked_at is None:
                    revoke_key(s, key, actor=f"job:{ctx.job_id}")
        return {
            "rows": total,
            **counts,
            "artifacts": [ARTIFACT],
            "dataset": p["dataset"],
            "endpoint": p["endpoint"],
        }

    async def _rows(
        self,
        ctx: JobContext,
        rows: list[dict[str, Any]],
        start: int,
        secret: str,
        prefix: str,
        path: Any,
        counts: dict[str, int],
    ) -> None:
        p = ctx.params
        total = len(rows)
        failing = 0
        http = make_http_client(None)
        try:
            with path.open("a", encoding="utf-8") as out:
                for i in range(start, total):
                    if ctx.cancelled():
                        raise JobCancelled()
                    line, tokens = await self._one(http, secret, p, rows[i], i)
                    counts[{"ok": "ok", "blocked": "blocked"}.get(line["status"], "errors")] += 1
                    failing = failing + 1 if line["status"] == "error" else 0
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
                    out.flush()
                    os.fsync(out.fileno())
                    ctx.checkpoint(
                        {
                            "next_row": i + 1,
                            "bytes": out.tell(),
                            "key_prefix": prefix,
                            "artifacts": [ARTIFACT],
                            "counts": counts,
                        }
                    )
                    ctx.progress(i + 1, total, f"{i + 1}/{total} rows")
                    ctx.charge(tokens=tokens)  # raises AllocationExceeded once the allocation is spent
                    if failing >= MAX_CONSECUTIVE_ERRORS:
                        raise UpstreamError(
                            f"stopped after {failing} rows in a row failed; last error: {line.get('error')}"
                        )
        finally:
            await http.aclose()

    async def _one(
        self, http: httpx.AsyncClient, secret: str, p: dict[str, Any], row: dict[str, Any], index: int
    ) -> tuple[dict[str, Any], int]:
        messages: list[dict[str, str]] = []
        if p.get("system"):
            messages.append({"role": "system", "content": p["system"]})
        messages.append({"role": "user", "content": str(row.get(p["column"], ""))})
        body = {
            "model": p["endpoint"],
            "messages": messages,
            "max_tokens": p["max_tokens"],
            "temperature": p["temperature"],
        }
        response = await http.post(
            "/chat/completions", json=body, headers={"Authorization": f"Bearer {secret}"}
        )
        try:
            data = response.json()
        except ValueError:
            data = {}
        extra = data.get("finsandbox") or {}
        line: dict[str, Any] = {"row": index, "id": row.get("id"), "ledger_seq": extra.get("ledger_seq")}
        if response.status_code == 200:
            usage = data.get("usage") or {}
            line.update(status="ok", output=data["choices"][0]["message"].get("content") or "", usage=usage)
            return line, int(usage.get("total_tokens") or 0)
        err = data.get("error") or {}
        blocked = err.get("code") == "guard_blocked"
        line.update(
            status="blocked" if blocked else "error",
            output=None,
            error=err.get("message") or f"HTTP {response.status_code}",
        )
        return line, 0
