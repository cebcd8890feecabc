"""Sampling running tasks' CPU and memory from Docker and shipping utilization to
the control plane (`POST /agent/v1/metrics`) every 10 seconds.

The numbers are ECS's CloudWatch ones, per task:

    CPUUtilization    = CPU units used / CPU units reserved * 100
    MemoryUtilization = MiB used / MiB reserved * 100

A CPU unit is 1/1024 of a core. Units used come from two Docker samples of each
container: Docker's `system_cpu_usage` counts every online core, so

    cores used = Δ container CPU ns / Δ system CPU ns * online CPUs

summed over the task's containers. Memory used is the containers' usage without
reclaimable page cache (as `docker stats` shows it). Reserved is the task-level
size, else the sum of the containers' `cpu` / `memory` (or `memoryReservation`).
A task reserving no CPU has no CPUUtilization, like ECS (it would be unbounded).

The server turns each task's numbers into per-task and per-service datapoints,
with the cluster and service names from its own record of the task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, NamedTuple

from openecs.agent.container_runtime import ContainerRuntime, ContainerStats
from openecs.agent.task_runner import TaskRunner

__all__ = [
    "CPU_UNITS_PER_CORE",
    "StatsSampler",
    "TaskReservation",
    "cpu_units_used",
    "reservations_from_runners",
    "task_utilization",
]

log = logging.getLogger("openecs.agent.stats")

CPU_UNITS_PER_CORE = 1024
_MIB = 1024 * 1024


class TaskReservation(NamedTuple):
    """What the sampler needs of one running task."""

    container_ids: tuple[str, ...]
    cpu_units: int
    memory_mib: int


def cpu_units_used(previous: ContainerStats, current: ContainerStats) -> float | None:
    """CPU units one container used between two samples; None when the samples
    cannot tell (no system time passed, or a counter went back: a restart)."""
    container_delta = current.cpu_total_ns - previous.cpu_total_ns
    system_delta = current.system_cpu_ns - previous.system_cpu_ns
    if system_delta <= 0 or container_delta < 0:
        return None
    cpus = current.online_cpus or previous.online_cpus or 1
    return container_delta / system_delta * cpus * CPU_UNITS_PER_CORE


def task_utilization(
    previous: Mapping[str, ContainerStats],
    current: Mapping[str, ContainerStats],
    reservation: TaskReservation,
) -> dict[str, float]:
    """{"cpuUtilization": %, "memoryUtilization": %} of one task from its containers'
    samples now and one interval ago (by container id); a figure that cannot be
    computed (nothing reserved, no earlier sample) is left out."""
    figures: dict[str, float] = {}
    if current and reservation.memory_mib > 0:
        used_mib = sum(s.memory_usage_bytes for s in current.values()) / _MIB
        figures["memoryUtilization"] = used_mib / reservation.memory_mib * 100
    if reservation.cpu_units > 0 and current and current.keys() <= previous.keys():
        units = [cpu_units_used(previous[cid], stats) for cid, stats in current.items()]
        if all(u is not None for u in units):
            used = sum(u for u in units if u is not None)
            figures["cpuUtilization"] = used / reservation.cpu_units * 100
    return figures


def reservations_from_runners(runners: Iterable[TaskRunner]) -> dict[str, TaskReservation]:
    """The RUNNING tasks among the agent's runners, with their running containers."""
    found: dict[str, TaskReservation] = {}
    for runner in runners:
        if runner.last_status != "RUNNING":
            continue
        tracks = list(runner.tracks.values())
        ids = tuple(t.runtime_id for t in tracks if t.runtime_id and t.status == "RUNNING")
        if not ids:
            continue
        cpu = runner.ctx.task_cpu or sum(_int(t.definition.get("cpu")) for t in tracks)
        memory = runner.ctx.task_memory or sum(
            _int(t.definition.get("memory") or t.definition.get("memoryReservation"))
            for t in tracks
        )
        found[runner.task_arn] = TaskReservation(ids, cpu, memory)
    return found


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class StatsSampler:
    """Every `interval` seconds: sample each running task's containers, send one
    batch `[{"taskArn", "cpuUtilization"?, "memoryUtilization"?}]`. A failed send
    is logged and the next interval sends fresh numbers (no backlog)."""

    def __init__(
        self,
        runtime: ContainerRuntime,
        running: Callable[[], Mapping[str, TaskReservation]],
        send: Callable[[list[dict[str, Any]]], Awaitable[object]],
        *,
        interval: float = 10.0,
    ) -> None:
        self.runtime = runtime
        self.running = running
        self.send = send
        self.interval = interval
        self._previous: dict[str, dict[str, ContainerStats]] = {}

    async def run(self) -> None:
        while True:
            await self.sample_once()
            await asyncio.sleep(self.interval)

    async def sample_once(self) -> list[dict[str, Any]]:
        """One round: sample, remember, send; the batch sent (maybe empty: not sent)."""
        tasks = dict(self.running())
        batch: list[dict[str, Any]] = []
        current_all: dict[str, dict[str, ContainerStats]] = {}
        for arn, reservation in tasks.items():
            current = await self._sample(reservation.container_ids)
            current_all[arn] = current
            figures = task_utilization(self._previous.get(arn, {}), current, reservation)
            if figures:
                batch.append({"taskArn": arn, **figures})
        # Tasks gone since the last round are forgotten with their samples.
        self._previous = current_all
        if batch:
            try:
                await self.send(batch)
            except Exception:
                log.warning("sending task metrics failed", exc_info=True)
        return batch

    async def _sample(self, container_ids: tuple[str, ...]) -> dict[str, ContainerStats]:
        results = await asyncio.gather(
            *(self.runtime.stats(cid) for cid in container_ids), return_exceptions=True
        )
        samples: dict[str, ContainerStats] = {}
        for cid, result in zip(container_ids, results, strict=True):
            if isinstance(result, ContainerStats):
                samples[cid] = result
            elif isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
        return samples
