"""Fixtures for tests on the real Docker Engine.

Everything a test creates in Docker carries `docker_labels`: `openecs.test=1`
plus a label unique to this test session. After each test whatever carries the
session label (containers, networks, volumes) is removed, so a failing test
leaves nothing behind and parallel workers never touch each other's objects.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from openecs.agent.docker_api import DockerClient, NotFound
from openecs.agent.docker_runtime import DockerRuntime
from tests.support.images import ensure_busybox_image

SESSION_LABEL = "openecs.test.session"
_SESSION = uuid.uuid4().hex[:16]


@pytest.fixture(scope="session")
def busybox_image() -> str:
    """`openecs-test/busybox:latest`, built locally on first use."""
    return ensure_busybox_image()


@pytest.fixture
async def docker_labels() -> AsyncIterator[dict[str, str]]:
    """Labels for every Docker object a test creates; removes them after the test."""
    yield {"openecs.test": "1", SESSION_LABEL: _SESSION}
    mine = {SESSION_LABEL: _SESSION}
    async with DockerClient() as docker:
        for container in await docker.container_list(all=True, labels=mine):
            with contextlib.suppress(NotFound):
                await docker.container_remove(container["Id"], force=True, volumes=True)
        for network in await docker.network_list(labels=mine):
            await docker.network_remove(network["Id"])
        for volume in await docker.volume_list(labels=mine):
            await docker.volume_remove(volume["Name"], force=True)


@pytest.fixture
async def docker_runtime(docker_labels: dict[str, str]) -> AsyncIterator[DockerRuntime]:
    runtime = DockerRuntime(host_ip="127.0.0.1")
    yield runtime
    await runtime.aclose()
