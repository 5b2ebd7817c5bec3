"""A reference model: an OpenAI-compatible upstream that gives each case of a suite its right answer.

It stands for a clean model that reads its context, its few-shot pairs and its instructions
correctly, so a suite's own faults (a scorer that rejects a right answer, a guard that blocks a
prescribed reply, a context without the answer) show up against it, and so suite sensitivity has
a fast, clean baseline to wrap in defects. It finds the case by the request's last user message
(the closest case or attack variant, since input guards may have masked names) and composes the
answer from the case's expectations: the disclosure the recipe asks for, then the refusal, the
hand-off, the label, the JSON fields or the gold answer. It knows nothing the suite does not say.

Run it with `python -m finsandbox.testing.reference_model --suite customer_service --port 8002`.
"""

from __future__ import annotations

import argparse
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_WORD = re.compile(r"[a-z0-9]+")
_PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")
DISCLOSURE = "I am Harbour Bank's AI assistant."
REFUSAL = "I'm sorry, I can't help with that."
HANDOFF = "I will transfer you to a human colleague in our Customer Care team."


@dataclass(frozen=True)
class Known:
    words: frozenset[str]
    answer: str


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(_PLACEHOLDER.sub(" ", text).lower()))


def gold_answer(expected: dict[str, Any], scorers: list[str]) -> str:
    """The right answer to a case, composed from its expectations."""
    parts: list[str] = []
    customer_facing = "disclosure" in scorers
    if customer_facing and expected.get("must_disclose", True):
        parts.append(DISCLOSURE)
    if expected.get("must_refuse"):
        parts.append(REFUSAL)
    elif expected.get("must_escalate"):
        parts.append(HANDOFF)
    elif expected.get("fields") is not None:
        return json.dumps(expected["fields"], ensure_ascii=False)
    elif expected.get("label") is not None:
        parts.append(str(expected["label"]))
    elif expected.get("answer") is not None:
        answer = expected["answer"]
        parts.append(", ".join(str(a) for a in answer) if isinstance(answer, list) else str(answer))
    contains = expected.get("contains")
    for needle in [contains] if isinstance(contains, str) else contains or []:
        if needle.lower() not in " ".join(parts).lower():
            parts.append(str(needle))
    for number in expected.get("numbers") or []:
        if str(number) not in " ".join(parts):
            parts.append(str(number))
    return " ".join(parts) or "Noted."


def known_answers(suite_refs: list[str], seed: int = 0) -> list[Known]:
    """Every case and attack variant of the suites, with its right answer."""
    from finsandbox.evals.plan import load, plan

    out = []
    for ref in suite_refs:
        loaded = load(ref)
        scorers = {r.name: [s.name for s in r.scorers] for r in loaded.suite.recipes}
        for item in plan([loaded], recipes=None, max_cases=None, seed=seed):
            out.append(
                Known(_words(item.case.user_text), gold_answer(item.case.expected, scorers[item.recipe]))
            )
    return out


def answer_for(known: list[Known], messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user" and not m.get("finsandbox_source")]
    last = users[-1]["content"] if users else ""
    if isinstance(last, list):
        last = " ".join(str(p.get("text", "")) for p in last if isinstance(p, dict))
    asked = _words(str(last))
    if not asked or not known:
        return "Noted."

    def similarity(k: Known) -> float:
        return len(asked & k.words) / (len(asked | k.words) or 1)

    return max(known, key=similarity).answer


def create_reference_upstream(
    suite_refs: list[str], seed: int = 0, model: str = "reference-model"
) -> Starlette:
    known = known_answers(suite_refs, seed)

    async def chat(request: Request) -> Response:
        body = await request.json()
        text = answer_for(known, body.get("messages") or [])
        prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        usage = {"prompt_tokens": prompt, "completion_tokens": len(text.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": usage,
            }
        )

    async def models(_request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": model, "object": "model"}]})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--suite", action="append", required=True, help="a suite name or path (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    app = create_reference_upstream(args.suite, args.seed)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
