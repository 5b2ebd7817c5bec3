"""Pull a JSON value out of model output that may wrap it in prose or a code fence."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_json(output: str) -> tuple[Any, str | None]:
    """(value, None) for the first parseable JSON value, or (None, why not)."""
    text = output.strip()
    candidates = [m.group(1).strip() for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        try:
            return json.loads(candidate), None
        except ValueError:
            pass
        for i, ch in enumerate(candidate):
            if ch in "{[":
                try:
                    value, _ = decoder.raw_decode(candidate, i)
                    return value, None
                except ValueError:
                    continue
    return None, "no JSON object or array found in the output"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts become dotted keys; lists stay whole values (compared as a unit)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        if not value and prefix:
            out[prefix[:-1]] = {}
        return out
    return {prefix[:-1]: value} if prefix else {"": value}
