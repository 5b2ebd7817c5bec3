"""A bank's own suites: built from its uploaded datasets, saved as versioned suite YAML files.

Each save writes a new version under the data directory (`suites/<workspace>/<name>/v<N>/suite.yaml`
beside `cases.jsonl`), validated by the same loader the CLI uses, so `finsandbox trial run --suite
PATH` runs exactly what the web page or the API saved. Versions are never overwritten; the ledger
records each one by digest. It lives with supervision because a saved suite's principles are
checked against the programme's framework, which evaluations below it do not know.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.access.authz import authorize
from finsandbox.config import get_settings
from finsandbox.errors import FinsandboxError, InvalidRequest, NotFound
from finsandbox.evals.datasets import as_case, get_dataset
from finsandbox.store.models import User, Workspace

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
OWN_PREFIX = "own:"
"""How a trial names a workspace's own suite: `own:NAME` (latest version) or `own:NAME@vN`."""


@dataclass(frozen=True)
class OwnSuite:
    name: str
    version: int
    path: Path
    digest: str
    created_at: datetime
    description: str
    recipes: int
    cases: int

    @property
    def ref(self) -> str:
        return f"{OWN_PREFIX}{self.name}@v{self.version}"


def suites_dir(workspace: Workspace) -> Path:
    return Path(get_settings().ensure_home()) / "suites" / workspace.slug


def _versions(workspace: Workspace, name: str) -> list[int]:
    folder = suites_dir(workspace) / name
    if not folder.is_dir():
        return []
    return sorted(int(p.name[1:]) for p in folder.iterdir() if re.fullmatch(r"v\d+", p.name))


def _read(workspace: Workspace, name: str, version: int) -> OwnSuite:
    path = suites_dir(workspace) / name / f"v{version}" / "suite.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    cases = path.with_name("cases.jsonl")
    count = sum(1 for line in cases.read_text(encoding="utf-8").splitlines() if line.strip())
    digest = hashlib.sha256(path.read_bytes() + cases.read_bytes()).hexdigest()
    return OwnSuite(
        name=name,
        version=version,
        path=path,
        digest=digest,
        created_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
        description=str(data.get("description") or ""),
        recipes=len(data.get("recipes") or []),
        cases=count,
    )


def list_suites(session: Session, user: User, workspace: Workspace) -> list[OwnSuite]:
    """The latest version of each of the workspace's own suites, by name."""
    authorize(user, "trial.view", workspace)
    root = suites_dir(workspace)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        versions = _versions(workspace, folder.name)
        if versions:
            out.append(_read(workspace, folder.name, versions[-1]))
    return out


def suite_versions(session: Session, user: User, workspace: Workspace, name: str) -> list[OwnSuite]:
    authorize(user, "trial.view", workspace)
    versions = _versions(workspace, name)
    if not versions:
        raise NotFound(f"workspace {workspace.slug} has no suite {name!r}")
    return [_read(workspace, name, v) for v in versions]


def resolve(session: Session, user: User, workspace: Workspace, ref: str) -> OwnSuite:
    """`own:NAME` or `own:NAME@vN` (the `own:` is optional) to the saved suite version."""
    body = ref.removeprefix(OWN_PREFIX)
    name, _, version = body.partition("@")
    versions = suite_versions(session, user, workspace, name)
    if not version:
        return versions[-1]
    wanted = version.lstrip("v")
    found = next((s for s in versions if str(s.version) == wanted), None)
    if found is None:
        raise NotFound(f"suite {name!r} has no version {version}; it has v{versions[-1].version} at most")
    return found


def save_suite(
    session: Session,
    user: User,
    workspace: Workspace,
    *,
    name: str,
    dataset_id: str,
    scorers: list[dict[str, Any]],
    principles: list[str],
    input_column: str = "input",
    expected_column: str = "expected",
    id_column: str = "id",
    attacks: list[str] | None = None,
    system_prompt: str = "",
    description: str = "",
) -> OwnSuite:
    """Build a suite of one recipe from a dataset and save it as the next version of `name`.

    Every problem found is reported together (unknown column, scorer, attack or principle, empty
    cases); nothing is written unless the suite loads the way a trial will load it.
    """
    from finsandbox import registry
    from finsandbox.supervision.framework import load_framework

    authorize(user, "trial.launch", workspace)
    problems: list[str] = []
    name = (name or "").strip()
    if not _NAME.match(name):
        problems.append("the suite name must be 1-64 lower-case letters, digits, '.', '_' or '-'")
    dataset = get_dataset(session, user, workspace, dataset_id)
    for what, column in (("input", input_column), ("expected", expected_column), ("id", id_column)):
        if column not in dataset.columns:
            problems.append(
                f"the dataset has no column {column!r} for the {what}; it has {', '.join(dataset.columns)}"
            )
    if not scorers:
        problems.append("choose at least one scorer")
    for spec in scorers:
        if spec.get("name") not in registry.scorers:
            problems.append(registry.scorers.unknown(str(spec.get("name"))))
    for attack in attacks or []:
        if attack not in registry.attacks:
            problems.append(registry.attacks.unknown(attack))
    known = [p.id for p in load_framework().framework.principles]
    if not principles:
        problems.append("choose the principles the suite evidences")
    problems += [
        f"{p!r} is not a principle; use one of {', '.join(known)}" for p in principles if p not in known
    ]
    if problems:
        raise InvalidRequest("; ".join(problems), param="suite")
    cases = [
        as_case(row, input_column=input_column, expected_column=expected_column, id_column=id_column)
        for row in dataset.rows
    ]
    version = (_versions(workspace, name) or [0])[-1] + 1
    folder = suites_dir(workspace) / name / f"v{version}"
    folder.mkdir(parents=True, exist_ok=False)
    recipe: dict[str, Any] = {
        "name": "cases",
        "description": f"from dataset {dataset.name!r} ({dataset.sha256[:12]})",
        "dataset": "cases.jsonl",
        "scorers": [
            {k: v for k, v in {"name": s["name"], "threshold": s.get("threshold")}.items() if v is not None}
            for s in scorers
        ],
        "principles": principles,
    }
    if system_prompt.strip():
        recipe["target"] = {"system_prompt": system_prompt.strip()}
    if attacks:
        recipe["attacks"] = [{"name": a} for a in attacks]
    suite: dict[str, Any] = {
        "name": name,
        "version": str(version),
        "description": description.strip() or f"{workspace.name}: own suite from {dataset.name}",
        "recipes": [recipe],
    }
    if workspace.theme:
        suite["theme"] = workspace.theme
    try:
        (folder / "cases.jsonl").write_text(
            "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8"
        )
        header = (
            f"# Saved by {user.email} from dataset {dataset.name!r}; run it with `finsandbox trial run`.\n"
        )
        (folder / "suite.yaml").write_text(
            header + yaml.safe_dump(suite, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        from finsandbox.evals.plan import load

        load(str(folder / "suite.yaml"))  # exactly what a trial will do
    except FinsandboxError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise InvalidRequest(f"the suite could not be saved: {exc}", param="suite") from None
    saved = _read(workspace, name, version)
    ledger.append(
        session,
        actor=f"user:{user.email}",
        kind="suite.saved",
        workspace_id=workspace.id,
        payload={"suite": name, "version": version, "digest": saved.digest, "dataset_id": dataset.id},
    )
    return saved
