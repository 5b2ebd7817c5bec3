"""`finsandbox plugins`: what each extension point holds, built-in or from which plugin package."""

from __future__ import annotations

from typing import Annotated

import typer

from finsandbox import registry
from finsandbox.cli._common import JsonFlag, console, err, print_json, table
from finsandbox.errors import ConfigError


def plugins(
    point: Annotated[
        str | None,
        typer.Argument(help=f"only this extension point: {', '.join(registry.EXTENSION_POINTS)}"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every backend, guard, recogniser, scorer, attack, executor and target by name, and its origin.

    Exit status 1 when a plugin could not be registered (it failed to load, breaks the contract,
    or clashes with another name); the table says why.
    """
    if point is not None and point not in registry.EXTENSION_POINTS:
        raise ConfigError(
            f"unknown extension point {point!r} (known: {', '.join(registry.EXTENSION_POINTS)})"
        )
    points = {k: r for k, r in registry.EXTENSION_POINTS.items() if point in (None, k)}
    data = {
        k: {
            "entry_point_group": r.group,
            "implementations": [{"name": e.name, "origin": e.origin} for e in r.entries()],
            "problems": [{"name": p.name, "origin": p.origin, "problem": p.message} for p in r.problems()],
        }
        for k, r in points.items()
    }
    if as_json:
        print_json(data)
    else:
        for k, d in data.items():
            table(
                f"{k} (entry point group {d['entry_point_group']})",
                ["name", "origin"],
                [[i["name"], i["origin"]] for i in d["implementations"]],
            )
        for k, d in data.items():
            for p in d["problems"]:
                err.print(
                    f"{k}: {p['name']} from {p['origin']} is not registered: {p['problem']}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
        if not any(d["problems"] for d in data.values()):
            console.print("every plugin is registered")
    if any(d["problems"] for d in data.values()):
        raise typer.Exit(1)
