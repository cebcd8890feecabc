"""Shared fixtures: a real server process per session, AWS clients, unique names."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.awscli import CliResult, run_aws
from tests.support.postgres import running_postgres
from tests.support.server import ServerProcess


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse to run when pytest-xdist cannot honour `xdist_group`: grouped tests share
    module fixtures (a server, a deployed shop) and fail when spread over workers. It
    happened once already: pytest 9 moved node ids where xdist 3.8 tags them."""
    if not getattr(config.option, "loadgroup", False):  # set on xdist's workers
        return
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark is not None and not item.nodeid.endswith(f"@{mark.args[0]}"):
            raise pytest.UsageError(
                f"xdist_group is not honoured ({item.nodeid}): check the pytest and "
                "pytest-xdist versions in requirements.lock"
            )


_counter = itertools.count()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server (SQLite) shared by the contract tests of a worker."""
    # Generous: a 2-core machine under a full parallel test run starts servers slowly.
    proc = ServerProcess(tmp_path_factory.mktemp("server")).start(timeout=180)
    yield proc
    proc.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own, for tests that kill or restart it."""
    proc = ServerProcess(tmp_path / "server")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def ecs(server: ServerProcess) -> Any:
    return server.client("ecs")


@pytest.fixture
def aws(server: ServerProcess) -> Callable[..., CliResult]:
    def run(*args: str) -> CliResult:
        return run_aws(server, *args)

    return run


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names no other test uses, so tests can share one server."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "w")

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{worker}-{os.getpid()}-{next(_counter)}"

    return make


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with running_postgres() as url:
        yield url
