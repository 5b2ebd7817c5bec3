"""The one registry: every extension point resolves a name the same way, built-ins and plugins alike.

Seven extension points: backends, guards, PII recognisers, scorers, attacks, executors and targets.
A built-in is one file that carries its package's decorator (`@scorer("exact_match")`,
`@guard("pii")`, `@recogniser("HKID")`, ...); the registry finds built-ins by importing the
modules of the point's packages, so there is no list to keep in step. A plugin is an installed
package that declares a Python entry point in the point's group, so a bank can ship its own scorer
or recogniser without forking:

    [project.entry-points."finsandbox.scorers"]
    tone_of_voice = "acme_checks.tone:ToneScorer"

The entry point's name is the name YAML files use. A plugin must implement the point's contract
and cannot replace a built-in (a guard policy that says `pii` always means the shipped PII guard).
An unknown name is a `ConfigError` listing what exists; a plugin that fails to load, breaks the
contract or clashes with another name is reported when its name is asked for and by
`finsandbox plugins`, never skipped in silence.

This module sits at the bottom of the layers: it imports only the standard library and `errors`.
Packages above name their built-in modules and contracts here as strings and are imported only
when a name is first looked up.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from finsandbox.errors import ConfigError

T = TypeVar("T")

BUILT_IN = "built-in"


@dataclass(frozen=True)
class Entry:
    """One registered implementation and where it came from."""

    name: str
    obj: Any
    origin: str  # "built-in", or "plugin <distribution> <version>"


@dataclass(frozen=True)
class Problem:
    """A plugin that could not be registered, and why."""

    name: str
    origin: str
    message: str


class Registry(Generic[T]):
    """Names -> implementations for one extension point."""

    def __init__(
        self,
        kind: str,
        group: str,
        *,
        packages: tuple[str, ...],
        contract: str,
        name_attr: str = "name",
    ) -> None:
        self.kind = kind
        self.group = group
        self.packages = packages
        self.contract = contract  # "module:Class" every implementation subclasses
        self.name_attr = name_attr  # the class attribute that carries the registered name
        self._entries: dict[str, Entry] = {}
        self._problems: dict[str, Problem] = {}
        self._builtins_loaded = False
        self._plugins_loaded = False
        self._lock = threading.RLock()
        self.generation = 0  # bumps whenever the set of implementations changes (for caches)

    # --- registering ------------------------------------------------------------------------------

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator for built-ins: register under the name YAML files use."""

        def decorate(obj: T) -> T:
            with self._lock:
                existing = self._entries.get(name)
                if existing is not None and existing.obj is not obj:
                    raise ValueError(
                        f"{self.kind} '{name}' is registered twice ({existing.obj!r} and {obj!r})"
                    )
                setattr(obj, self.name_attr, name)
                self._entries[name] = Entry(name, obj, BUILT_IN)
                self.generation += 1
            return obj

        return decorate

    # --- looking up -------------------------------------------------------------------------------

    def get(self, name: str) -> T:
        """The implementation registered as `name`; a ConfigError says what exists when none is."""
        self._load()
        entry = self._entries.get(name)
        if entry is not None:
            return entry.obj  # type: ignore[no-any-return]
        problem = self._problems.get(name)
        if problem is not None:
            raise ConfigError(f"{self.kind} '{name}' from {problem.origin} cannot be used: {problem.message}")
        raise ConfigError(self.unknown(name))

    def unknown(self, name: str) -> str:
        """The message for a name that is not registered."""
        return f"unknown {self.kind} '{name}' (known: {', '.join(self.names()) or 'none'})"

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        self._load()
        return [self._entries[n] for n in sorted(self._entries)]

    def problems(self) -> list[Problem]:
        self._load()
        return [self._problems[n] for n in sorted(self._problems)]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def refresh(self) -> None:
        """Forget plugins and look for them again (after installing one into a running process)."""
        with self._lock:
            for name in [n for n, e in self._entries.items() if e.origin != BUILT_IN]:
                del self._entries[name]
            self._problems.clear()
            self._plugins_loaded = False
            self.generation += 1

    # --- discovery ----------------------------------------------------------------------------------

    def _load(self) -> None:
        if self._builtins_loaded and self._plugins_loaded:
            return
        with self._lock:
            if not self._builtins_loaded:
                self._builtins_loaded = True
                for package in self.packages:
                    _import_modules(package)
            if not self._plugins_loaded:
                self._plugins_loaded = True
                for ep in entry_points(group=self.group):
                    self._add_plugin(ep)
                self.generation += 1

    def _add_plugin(self, ep: EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        origin = f"plugin {dist.name} {dist.version}" if dist is not None else f"plugin {ep.value}"
        name = ep.name
        if name in self._entries:
            other = self._entries[name]
            if other.origin == BUILT_IN:
                # A plugin never replaces a built-in; the built-in stays and the clash is reported.
                self._problems[f"{name} ({origin})"] = Problem(
                    name, origin, f"the name is taken by the built-in {self.kind}"
                )
                return
            del self._entries[name]
            self._problems[name] = Problem(name, origin, f"the name is also registered by {other.origin}")
            return
        if name in self._problems:
            return
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not take the product down with it
            message = f"cannot load {ep.value}: {type(exc).__name__}: {exc}"
            self._problems[name] = Problem(name, origin, message)
            return
        contract = _resolve(self.contract)
        if not (isinstance(obj, type) and issubclass(obj, contract)):
            self._problems[name] = Problem(
                name, origin, f"{ep.value} is not a {contract.__module__}.{contract.__qualname__}"
            )
            return
        setattr(obj, self.name_attr, name)
        self._entries[name] = Entry(name, obj, origin)


def _import_modules(package: str) -> None:
    """Import every public module of a package, so the built-ins it holds register themselves."""
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_") and not info.ispkg:
            importlib.import_module(f"{package}.{info.name}")


def _resolve(ref: str) -> type:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


# --- the extension points -------------------------------------------------------------------------

backends: Registry[Any] = Registry(
    "backend",
    "finsandbox.backends",
    packages=("finsandbox.gateway.backends",),
    contract="finsandbox.gateway.backends.base:Backend",
    name_attr="kind",
)
guards: Registry[Any] = Registry(
    "guard",
    "finsandbox.guards",
    packages=("finsandbox.guards", "finsandbox.guards.pii"),
    contract="finsandbox.guards.base:Guard",
)
recognisers: Registry[Any] = Registry(
    "recogniser",
    "finsandbox.recognisers",
    packages=("finsandbox.guards.pii",),
    contract="finsandbox.guards.pii.recognizer:Recognizer",
    name_attr="entity_type",
)
scorers: Registry[Any] = Registry(
    "scorer",
    "finsandbox.scorers",
    packages=("finsandbox.evals.scorers",),
    contract="finsandbox.evals.scorers.base:Scorer",
)
attacks: Registry[Any] = Registry(
    "attack",
    "finsandbox.attacks",
    packages=("finsandbox.evals.attacks",),
    contract="finsandbox.evals.attacks.base:Attack",
)
executors: Registry[Any] = Registry(
    "executor",
    "finsandbox.executors",
    packages=("finsandbox.evals.executors",),
    contract="finsandbox.evals.executors.base:Executor",
)
targets: Registry[Any] = Registry(
    "target",
    "finsandbox.targets",
    packages=("finsandbox.evals.targets",),
    contract="finsandbox.evals.targets.base:Target",
    name_attr="kind",
)
job_kinds: Registry[Any] = Registry(
    "job kind",
    "finsandbox.job_kinds",
    packages=("finsandbox.jobs.kinds",),
    contract="finsandbox.jobs.base:JobKind",
)

EXTENSION_POINTS: dict[str, Registry[Any]] = {
    r.group.removeprefix("finsandbox."): r
    for r in (backends, guards, recognisers, scorers, attacks, executors, targets, job_kinds)
}


def refresh() -> None:
    """Look for plugins again at every extension point."""
    for registry in EXTENSION_POINTS.values():
        registry.refresh()


__all__ = [
    "EXTENSION_POINTS",
    "Entry",
    "Problem",
    "Registry",
    "attacks",
    "backends",
    "executors",
    "guards",
    "job_kinds",
    "recognisers",
    "refresh",
    "scorers",
    "targets",
]
