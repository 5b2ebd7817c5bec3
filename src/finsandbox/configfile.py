"""Reading configuration files: YAML whose every error names the file, the line, the field and the problem.

Suites, guard policies, admission rubrics and frameworks are all YAML validated by pydantic. YAML
is composed into a node tree first, so a pydantic error location such as
recipes[0].scorers[1].name maps back to the line it came from; two equal keys, which YAML would
silently merge, are an error. This module sits at the bottom of the layers beside `config` and
`errors`, so every service reads its files the same way without importing another service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from finsandbox.errors import ConfigError

MAX_ERRORS = 20
Loc = tuple[Any, ...]


def read_text(path: Path, label: str, what: str = "file") -> str:
    """A configuration file's text, or a ConfigError that names the file and what is wrong with it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: {what} not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not valid UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read the {what} ({exc.strerror})") from None


def parse_yaml(text: str, label: str) -> tuple[Any, Node | None]:
    """(data, node tree) of one YAML document; syntax errors and repeated keys name the line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{label}, line {mark.line + 1}, column {mark.column + 1}" if mark else label
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: invalid YAML: {exc}") from None
    duplicates = [
        f"{label}, line {line}: duplicate key '{key}' (first on line {first})"
        for key, line, first in duplicate_keys(node)
    ]
    if duplicates:
        raise ConfigError(join_errors(duplicates))
    if node is None:
        return None, None
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f"{label}, line {mark.line + 1}" if mark else label
        raise ConfigError(f"{where}: invalid YAML: {exc.problem}") from None
    finally:
        loader.dispose()
    return data, node


def duplicate_keys(node: Node | None) -> Iterator[tuple[str, int, int]]:
    """(key, line, line of its first occurrence) for every key repeated within one mapping."""
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode):
                line = key.start_mark.line + 1
                if key.value in seen:
                    yield str(key.value), line, seen[key.value]
                seen.setdefault(key.value, line)
            yield from duplicate_keys(value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from duplicate_keys(item)


def line_of(node: Node | None, loc: Loc | list[Any]) -> int | None:
    """1-based line of the deepest node along `loc` (a missing key points at its parent)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    cur: Node = node
    for part in loc:
        if isinstance(cur, MappingNode):
            for key, value in cur.value:
                if isinstance(key, ScalarNode) and key.value == str(part):
                    line = key.start_mark.line + 1
                    cur = value
                    break
            else:
                return line
        elif isinstance(cur, SequenceNode) and isinstance(part, int) and 0 <= part < len(cur.value):
            cur = cur.value[part]
            line = cur.start_mark.line + 1
        else:
            return line
    return line


def format_loc(loc: Loc) -> str:
    """('recipes', 0, 'scorers', 1, 'name') -> 'recipes[0].scorers[1].name'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def clean_loc(data: Any, loc: Loc) -> Loc:
    """Drop the union-branch tags pydantic puts in locations; they are not in the file."""
    out: list[Any] = []
    cur = data
    for i, part in enumerate(loc):
        if isinstance(cur, dict) and isinstance(part, str):
            if part in cur:
                out.append(part)
                cur = cur[part]
            elif i == len(loc) - 1:
                out.append(part)  # a missing field: name it
            continue
        if isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
            continue
        if isinstance(part, int):
            out.append(part)
    return tuple(out)


def join_errors(errors: list[str]) -> str:
    """Up to MAX_ERRORS problems, one a line, and how many more there were."""
    shown = errors[:MAX_ERRORS]
    more = len(errors) - len(shown)
    return "\n".join(shown) + (f"\n... and {more} more" if more else "")


def validation_problems(exc: ValidationError, data: Any, node: Node | None, label: str) -> list[str]:
    """Each pydantic error as 'file, line N, field: problem'."""
    problems = []
    for error in exc.errors():
        loc = clean_loc(data, tuple(error["loc"]))
        line = line_of(node, loc)
        where = f"{label}, line {line}" if line else label
        msg = "this field is required" if error["type"] == "missing" else error["msg"]
        msg = msg.removeprefix("Value error, ")
        problems.append(f"{where}, {format_loc(loc)}: {msg}" if loc else f"{where}: {msg}")
    return problems


__all__ = [
    "MAX_ERRORS",
    "Loc",
    "clean_loc",
    "duplicate_keys",
    "format_loc",
    "join_errors",
    "line_of",
    "parse_yaml",
    "read_text",
    "validation_problems",
]
