"""Gateway fixtures: the in-process app, real server processes, the stub upstream, and DB helpers.

Servers and the stub upstream are module-scoped (starting a process costs about a second);
programme data is created per test, because the `db` fixture empties every table afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from finsandbox.testing import processes

MakeProgramme = Callable[..., Any]


@pytest.fixture(scope="session")
def make_programme(pytestconfig: pytest.Config) -> MakeProgramme:
    """The `make_programme` helper of tests/conftest.py.

    Both conftest files are modules named `conftest`, so importing it by name is ambiguous;
    the plugin manager holds the one we mean.
    """
    wanted = Path(__file__).resolve().parents[1] / "conftest.py"
    for plugin in pytestconfig.pluginmanager.get_plugins():
        origin = getattr(plugin, "__file__", None)
        if origin and Path(origin).resolve() == wanted:
            return plugin.make_programme  # type: ignore[no-any-return]
    raise RuntimeError("tests/conftest.py is not loaded")


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    """The gateway app in this process (lifespan on), answering errors instead of raising them."""
    from finsandbox.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def upstream() -> Iterator[processes.Process]:
    """The stub OpenAI-compatible upstream, as its own process."""
    with processes.upstream() as proc:
        yield proc
