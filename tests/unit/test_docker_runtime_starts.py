"""DockerRuntime bounds the container creates and starts in flight at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from openecs.agent.container_runtime import ContainerSpec
from openecs.agent.docker_api import DockerClient
from openecs.agent.docker_runtime import DockerRuntime

pytestmark = pytest.mark.anyio


class SlowEngine:
    """Answers creates and starts after a pause, counting how many overlap."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.calls: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/version":
            return httpx.Response(200, json={"ApiVersion": "1.41"})
        self.calls.append(request.url.path)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.02)
        finally:
            self.in_flight -= 1
        if request.url.path.endswith("/create"):
            return httpx.Response(201, json={"Id": f"c{len(self.calls)}", "Warnings": []})
        return httpx.Response(204)


async def test_at_most_the_limit_of_creates_and_starts_run_at_once() -> None:
    engine = SlowEngine()
    client = DockerClient(transport=httpx.MockTransport(engine))
    runtime = DockerRuntime(client, max_concurrent_starts=3)

    async def start_one(i: int) -> None:
        cid = await runtime.create(ContainerSpec(name=f"t{i}", image="busybox"))
        await runtime.start(cid)

    await asyncio.gather(*(start_one(i) for i in range(12)))
    await client.aclose()
    assert len(engine.calls) == 24
    assert engine.most == 3


async def test_a_lone_start_does_not_wait() -> None:
    engine = SlowEngine()
    client = DockerClient(transport=httpx.MockTransport(engine))
    runtime = DockerRuntime(client, max_concurrent_starts=1)
    cid = await asyncio.wait_for(runtime.create(ContainerSpec(name="t", image="busybox")), 1)
    await asyncio.wait_for(runtime.start(cid), 1)
    await client.aclose()
    assert engine.most == 1
