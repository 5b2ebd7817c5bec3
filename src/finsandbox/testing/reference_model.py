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
    system: str  # the recipe's system prompt: the same person may appear in several recipes
    question: frozenset[str]  # the user's turn
    words: frozenset[str]  # the turn and the case's own documents
    answer: str


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(_PLACEHOLDER.sub(" ", text).lower()))


def gold_answer(expected: dict[str, Any], scorers: list[str], schema: dict[str, Any] | None = None) -> str:
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
        fields = dict(expected["fields"])
        # Free-text keys the schema requires but the case does not score (an STR's "grounds").
        for key in (schema or {}).get("required", []):
            kind = ((schema or {}).get("properties", {}).get(key) or {}).get("type")
            if key not in fields and kind == "string":
                figures = ", ".join(
                    str(n.get("value") if isinstance(n, dict) else n) for n in expected.get("numbers") or []
                )
                fields[key] = f"The flagged activity ({figures or 'as listed'}) matches the rule triggered."
        return json.dumps(fields, ensure_ascii=False)
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
        value = str(number.get("value")) if isinstance(number, dict) else str(number)
        if value not in " ".join(parts):
            parts.append(value)
    return " ".join(parts) or "Noted."


def known_answers(suite_refs: list[str], seed: int = 0) -> list[Known]:
    """Every case and attack variant of the suites, with its right answer."""
    from finsandbox.evals.plan import load, plan

    out = []
    for ref in suite_refs:
        loaded = load(ref)
        scorers = {r.name: [s.name for s in r.scorers] for r in loaded.suite.recipes}
        systems = {r.name: r.target.system_prompt.strip() for r in loaded.suite.recipes}
        schemas = {
            r.name: s.settings.get("schema")
            for r in loaded.suite.recipes
            for s in r.scorers
            if s.name == "json_schema"
        }
        for item in plan([loaded], recipes=None, max_cases=None, seed=seed):
            text = " ".join([item.case.user_text, *(d.text for d in item.case.context)])
            answer = gold_answer(item.case.expected, scorers[item.recipe], schemas.get(item.recipe))
            out.append(Known(systems[item.recipe], _words(item.case.user_text), _words(text), answer))
    return out


def answer_for(known: list[Known], messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    question = _words(_text(users[-1].get("content"))) if users else frozenset()
    asked = _words(" ".join(_text(m.get("content")) for m in users[-2:]))
    system = next((_text(m.get("content")) for m in messages if m.get("role") == "system"), "")
    # The gateway appends the endpoint's canary line to the recipe's system prompt.
    candidates = [k for k in known if k.system and system.startswith(k.system)] or known
    if not asked or not candidates:
        return "Noted."

    def similarity(k: Known) -> tuple[float, float]:
        # The question first; the documents only tell apart cases that ask the same thing.
        return (
            len(question & k.question) / (len(question | k.question) or 1),
            len(asked & k.words) / (len(asked | k.words) or 1),
        )

    return max(candidates, key=similarity).answer


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


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
