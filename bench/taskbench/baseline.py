"""The same containers as the tasks, started straight through the Docker Engine
API with the project's own `DockerClient` — what the task start is measured against.

A "bridge" start is create + start + inspect (until running) of one container.
An "awsvpc" start is what Docker needs for an awsvpc task: create + start of the
namespace-holding pause container on the awsvpc network, then create + start +
inspect of the app container in its namespace (`container:<pause>`).
Both use the image, command, memory limit and CPU shares the agent would use.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from openecs.agent.agent import AWSVPC_NETWORK, AgentConfig
from openecs.agent.docker_api import DockerClient, NotFound

from .stack import BENCH_LABEL

__all__ = ["PAUSE_IMAGE", "BaselineStart", "Launcher"]

_MIB = 1024 * 1024
PAUSE_IMAGE = AgentConfig(endpoint="", cluster="", access_key="", secret_key="").pause_image


@dataclass
class BaselineStart:
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    sent_wall: float = 0.0  # epoch seconds just before the first call
    app_state: dict[str, Any] = field(default_factory=dict)  # the app's inspect


class Launcher:
    """Starts containers like a task's, straight through Docker."""

    def __init__(
        self,
        docker: DockerClient,
        *,
        image: str,
        command: Sequence[str],
        run_id: str,
        app_memory_mib: int,
        app_cpu_shares: int,
    ) -> None:
        self.docker = docker
        self.image = image
        self.command = list(command)
        self.labels = {BENCH_LABEL: run_id}
        self.app_memory = app_memory_mib * _MIB
        self.app_cpu_shares = app_cpu_shares
        self._serial = 0

    def _name(self, role: str) -> str:
        self._serial += 1
        return f"openecs-bench-{self.labels[BENCH_LABEL]}-{role}-{self._serial}"

    def _app_body(self, network_mode: str) -> dict[str, Any]:
        return {
            "Image": self.image,
            "Cmd": self.command,
            "Labels": self.labels,
            "HostConfig": {
                "NetworkMode": network_mode,
                "Memory": self.app_memory,
                "CpuShares": self.app_cpu_shares,
            },
        }

    def _pause_body(self) -> dict[str, Any]:
        return {
            "Image": PAUSE_IMAGE,
            "Cmd": ["sleep", "2147483647"],
            "Labels": self.labels,
            "HostConfig": {"NetworkMode": AWSVPC_NETWORK, "Memory": 16 * _MIB, "CpuShares": 2},
        }

    async def _timed(self, steps: dict[str, float], step: str, coro: Any) -> Any:
        t0 = time.perf_counter()
        result = await coro
        steps[step] = steps.get(step, 0.0) + time.perf_counter() - t0
        return result

    async def start(self, mode: str) -> BaselineStart:
        steps: dict[str, float] = {}
        ids: list[str] = []
        sent_wall = time.time()
        t0 = time.perf_counter()
        network_mode = "bridge"
        if mode == "awsvpc":
            pause = await self._timed(
                steps,
                "create",
                self.docker.container_create(self._pause_body(), name=self._name("pause")),
            )
            ids.append(pause)
            await self._timed(steps, "start", self.docker.container_start(pause))
            network_mode = f"container:{pause}"
        app = await self._timed(
            steps,
            "create",
            self.docker.container_create(self._app_body(network_mode), name=self._name("app")),
        )
        ids.append(app)
        await self._timed(steps, "start", self.docker.container_start(app))
        state = await self._timed(steps, "inspect", self.docker.container_inspect(app))
        while not state["State"]["Running"]:  # start returns once it runs; never loops
            state = await self._timed(steps, "inspect", self.docker.container_inspect(app))
        return BaselineStart(time.perf_counter() - t0, steps, ids, sent_wall, state)

    async def burst(self, mode: str, count: int, workers: int) -> tuple[float, list[str]]:
        """`count` starts by `workers` concurrent workers; seconds until all run."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)
        ids: list[str] = []

        async def work() -> None:
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = await self.start(mode)
                ids.extend(started.ids)

        t0 = time.perf_counter()
        await asyncio.gather(*(work() for _ in range(workers)))
        return time.perf_counter() - t0, ids

    async def remove(self, ids: Sequence[str], workers: int = 4) -> None:
        pending = list(ids)

        async def work() -> None:
            while pending:
                cid = pending.pop()
                with contextlib.suppress(NotFound):
                    await self.docker.container_remove(cid, force=True, volumes=True)

        await asyncio.gather(*(work() for _ in range(workers)))
