"""The embedded model's worker process: llama-cpp-python's OpenAI-compatible server for one GGUF file.

The `llamacpp` backend starts this module as a child process (`python -m`) and supervises it
(workers.py); the gateway never loads llama.cpp itself, so a native crash here (SIGILL, SIGSEGV,
the kernel's out-of-memory kill) ends this process only. The server is llama-cpp-python's own;
this module only configures it and adds what the gateway relies on:

- every prompt is evaluated from an empty context (see `fresh_prompt_class`);
- a prompt or a max_tokens that does not fit the context is a 400 naming which
  (llama-cpp-python would silently shorten max_tokens);
- the chat template is always the GGUF file's own, and a model without one refuses to start;
- a streamed chat completion ends with a usage chunk, as OpenAI's `include_usage` does;
- requests queue instead of interrupting each other (`interrupt_requests=False`).

Protocol with the parent process:
    stdin   the first line is the bearer key the server requires; EOF afterwards means the
            parent is gone, and the worker exits rather than linger as an orphan
    stdout  `FINSANDBOX-WORKER-READY <port>` once the model is loaded and the socket listens
    exit 3  the model cannot be served (the reason is the last line on stderr)
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

READY = "FINSANDBOX-WORKER-READY"
EXIT_UNSERVABLE = 3
# Marks a context overflow for the server's error handler: `<marker> <param>: <message>`.
CONTEXT_ERROR = "FINSANDBOX-CONTEXT-LENGTH"


def fresh_prompt_class(base: type, lora_scale: float = 1.0) -> type:
    """A `Llama` that forgets the previous prompt before each generation, and reports stream usage.

    llama.cpp would reuse the cached prefix of the last prompt and evaluate the rest in a
    smaller batch, which shifts the logits enough to change a greedy or seeded answer;
    evaluating every prompt afresh keeps "same seed and temperature, same answer". For a
    135M-parameter model the prompt costs milliseconds, so nothing worth keeping is lost.
    The server's settings carry a LoRA adapter's path but not its scale, which is set here.
    """

    class FreshPromptLlama(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if kwargs.get("lora_path"):
                kwargs.setdefault("lora_scale", lora_scale)
            super().__init__(*args, **kwargs)
            if not self.metadata.get("tokenizer.chat_template"):
                name = os.path.basename(str(kwargs.get("model_path", "the model")))
                print(f"the model {name} has no chat template in its metadata", file=sys.stderr)
                sys.exit(EXIT_UNSERVABLE)
            # The GGUF's own template, never a built-in format guessed from it.
            self.chat_format = "chat_template.default"
            self.finsandbox_prompt_tokens = 0

        def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
            self.finsandbox_prompt_tokens = len(tokens)
            self.reset()
            return super().generate(tokens, *args, **kwargs)

        def create_completion(self, prompt: Any, *args: Any, **kwargs: Any) -> Any:
            tokens = self._prompt_tokens(prompt) if isinstance(prompt, str) else prompt
            n_ctx, used = self.n_ctx(), len(tokens)
            if used >= n_ctx:
                raise ValueError(
                    f"{CONTEXT_ERROR} messages: this model's maximum context length is {n_ctx} tokens, "
                    f"but the messages use {used}"
                )
            max_tokens = kwargs.get("max_tokens")
            if max_tokens is not None and max_tokens > n_ctx - used:
                raise ValueError(
                    f"{CONTEXT_ERROR} max_tokens: this model's maximum context length is {n_ctx} tokens; "
                    f"the messages use {used}, so max_tokens can be at most {n_ctx - used} (got {max_tokens})"
                )
            return super().create_completion(tokens, *args, **kwargs)

        def _prompt_tokens(self, prompt: str) -> list[int]:
            """The prompt's tokens as llama-cpp-python's own completion makes them from text."""
            model = self._model
            bos = model.token_cls() if model.token_cls() != -1 else self.token_bos()
            eos = model.token_sep() if model.token_sep() != -1 else self.token_eos()
            head = [bos] if model.add_bos_token() and bos != -1 else []
            tail = [eos] if model.add_eos_token() or model.token_sep() != -1 else []
            body = self.tokenize(prompt.encode("utf-8"), add_bos=False, special=True) if prompt else []
            return head + body + tail

        def create_chat_completion(self, *args: Any, **kwargs: Any) -> Any:
            result = super().create_chat_completion(*args, **kwargs)
            return self._with_usage(result) if kwargs.get("stream") else result

        def _with_usage(self, chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            """Pass the chunks on, then one chunk with the call's token usage and no choices."""
            pieces: list[str] = []
            last: dict[str, Any] = {}
            for chunk in chunks:
                last = chunk
                for choice in chunk.get("choices") or []:
                    pieces.append((choice.get("delta") or {}).get("content") or "")
                yield chunk
            text = "".join(pieces)
            completion = len(self.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0
            prompt = self.finsandbox_prompt_tokens
            yield {
                "id": last.get("id", ""),
                "object": "chat.completion.chunk",
                "created": last.get("created", int(time.time())),
                "model": last.get("model", ""),
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }

    return FreshPromptLlama


def _exit_with_parent() -> None:
    """Block on stdin; its end means the gateway that started us is gone."""
    try:
        sys.stdin.read()
    finally:
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="GGUF file")
    parser.add_argument("--alias", required=True, help="the model name the server reports")
    parser.add_argument("--n-ctx", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True, help="threads generating tokens")
    parser.add_argument("--batch-threads", type=int, default=None, help="threads evaluating prompts")
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--lora", default=None, help="LoRA adapter (GGUF) applied to the model")
    parser.add_argument("--lora-scale", type=float, default=1.0)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    key = sys.stdin.readline().strip()
    threading.Thread(target=_exit_with_parent, daemon=True, name="parent-watch").start()
    if not os.path.isfile(args.model):
        print(f"the model file {args.model} was not found", file=sys.stderr)
        return EXIT_UNSERVABLE
    if args.lora and not os.path.isfile(args.lora):
        print(f"the LoRA adapter {os.path.basename(args.lora)} was not found", file=sys.stderr)
        return EXIT_UNSERVABLE

    import llama_cpp
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.errors import ErrorResponse, RouteErrorHandler
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    def context_error(_request: Any, match: re.Match[str]) -> tuple[int, ErrorResponse]:
        return 400, ErrorResponse(
            message=match.group(2),
            type="invalid_request_error",
            param=match.group(1),
            code="context_length_exceeded",
        )

    RouteErrorHandler.pattern_and_formatters[re.compile(rf"{CONTEXT_ERROR} (\w+): (.+)")] = context_error

    # The server builds its model with `llama_cpp.Llama(...)`, looked up when it loads.
    llama_cpp.Llama = fresh_prompt_class(llama_cpp.Llama, args.lora_scale)  # type: ignore[misc]
    server_settings = ServerSettings(
        host=args.host, port=0, api_key=key or None, interrupt_requests=False, disable_ping_events=True
    )
    model_settings = ModelSettings(
        model=args.model,
        model_alias=args.alias,
        n_ctx=args.n_ctx,
        n_threads=args.threads,
        n_threads_batch=args.batch_threads or args.threads,
        n_gpu_layers=args.gpu_layers,
        lora_path=args.lora,
        cache=False,
        verbose=False,
    )
    app = create_app(server_settings=server_settings, model_settings=[model_settings])

    # Bind before announcing: connections made after the READY line wait in the backlog.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((args.host, 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=300
    )
    print(f"{READY} {port}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
