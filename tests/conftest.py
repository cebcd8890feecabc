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
