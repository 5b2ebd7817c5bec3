"""A reference external app for trials: JSON in, JSON out, model calls through the gateway.

It shows what a participant's own app must do to be tested by a trial: call the gateway at
the coordinates the runner sends (base URL, key, model, and the trial/case headers), and
answer with the text and the contexts it used. `--mode html` makes it answer with HTML, to
exercise the runner's handling of a broken app.
Run it with `python -m finsandbox.testing.external_app --port 8002`.
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

KNOWLEDGE = [
    {"id": "fees#1", "text": "The Harbour Card annual fee is HKD 1,800, waived in the first year."},
    {"id": "rates#1", "text": "The 12-month time deposit rate is 3.2% p.a. for HKD 10,000 or more."},
]


def create_app(mode: str = "json") -> Starlette:
    async def answer(request: Request) -> Response:
        if mode == "html":
            return HTMLResponse("<html><body>Service temporarily unavailable</body></html>")
        body: dict[str, Any] = await request.json()
        gw = body["gateway"]
        words = set(body["input"].lower().split())
        contexts = [k for k in KNOWLEDGE if words & set(k["text"].lower().split())] or KNOWLEDGE[:1]
        messages = [
            {"role": "system", "content": body.get("system_prompt") or "Answer from the context."},
            {"role": "user", "content": "Context:\n" + "\n".join(c["text"] for c in contexts)},
            *body["messages"],
        ]
        async with httpx.AsyncClient(base_url=gw["base_url"], timeout=120) as client:
            r = await client.post(
                "/chat/completions",
                headers={**gw["headers"], "Authorization": f"Bearer {gw['api_key']}"},
                json={
                    "model": gw["model"],
                    "messages": messages,
                    "max_tokens": gw.get("max_tokens"),
                    "temperature": gw.get("temperature"),
                    "seed": gw.get("seed"),
                },
            )
        data = r.json()
        if r.status_code != 200:
            return JSONResponse(
                {"answer": "", "contexts": contexts, "error": data.get("error", {}).get("message")}
            )
        return JSONResponse({"answer": data["choices"][0]["message"]["content"], "contexts": contexts})

    async def health(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/answer", answer, methods=["POST"]), Route("/health", health)])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--mode", choices=["json", "html"], default="json")
    args = parser.parse_args()
    uvicorn.run(create_app(args.mode), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
