"""Task definitions, RunTask → RUNNING as a client sees it, and task cleanup."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .ecs import EcsClient

__all__ = [
    "CLUSTER",
    "COMMAND",
    "EcsStart",
    "docker_time",
    "register_definitions",
    "run_and_wait",
    "stop_and_wait",
]

CLUSTER = "bench"
COMMAND = ["sleep", "3600"]
# What the definitions ask for, so the Docker baseline can ask the same.
BRIDGE_MEMORY_MIB = 64
AWSVPC_CPU = 256
AWSVPC_MEMORY_MIB = 512
FAMILIES = {"bridge": "bench-bridge", "awsvpc": "bench-awsvpc"}


def register_definitions(ecs: EcsClient, image: str) -> None:
    ecs.call("CreateCluster", {"clusterName": CLUSTER})
    app = {"name": "app", "image": image, "command": COMMAND, "essential": True, "stopTimeout": 2}
    ecs.call(
        "RegisterTaskDefinition",
        {
            "family": FAMILIES["bridge"],
            "networkMode": "bridge",
            "requiresCompatibilities": ["EC2"],
            "containerDefinitions": [{**app, "memory": BRIDGE_MEMORY_MIB}],
        },
    )
    ecs.call(
        "RegisterTaskDefinition",
        {
            "family": FAMILIES["awsvpc"],
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": str(AWSVPC_CPU),
            "memory": str(AWSVPC_MEMORY_MIB),
            "containerDefinitions": [app],
        },
    )


def run_request(mode: str, count: int = 1) -> dict[str, Any]:
    request: dict[str, Any] = {
        "cluster": CLUSTER,
        "taskDefinition": FAMILIES[mode],
        "count": count,
    }
    if mode == "awsvpc":
        request["launchType"] = "FARGATE"
        request["networkConfiguration"] = {
            "awsvpcConfiguration": {"subnets": ["subnet-bench"], "assignPublicIp": "DISABLED"}
        }
    else:
        request["launchType"] = "EC2"
    return request


def run_tasks(ecs: EcsClient, mode: str, count: int) -> list[str]:
    answer = ecs.call("RunTask", run_request(mode, count))
    arns = [str(t["taskArn"]) for t in answer.get("tasks") or ()]
    if len(arns) != count:
        raise RuntimeError(f"RunTask placed {len(arns)} of {count}: {answer.get('failures')}")
    return arns


@dataclass
class EcsStart:
    seconds: float  # RunTask sent → DescribeTasks shows RUNNING
    ack: float  # RunTask sent → RunTask answered
    sent_wall: float
    seen_wall: float
    polls: int
    task: dict[str, Any] = field(default_factory=dict)


def run_and_wait(
    ecs: EcsClient, mode: str, *, poll_interval: float, timeout: float = 30.0
) -> EcsStart:
    """One RunTask, then DescribeTasks every `poll_interval` until RUNNING."""
    request = run_request(mode)
    sent_wall = time.time()
    t0 = time.perf_counter()
    answer = ecs.call("RunTask", request)
    ack = time.perf_counter() - t0
    tasks = answer.get("tasks") or []
    if not tasks:
        raise RuntimeError(f"RunTask placed nothing: {answer.get('failures')}")
    arn = str(tasks[0]["taskArn"])
    describe = {"cluster": CLUSTER, "tasks": [arn]}
    polls = 0
    while True:
        tick = time.perf_counter()
        task = ecs.call("DescribeTasks", describe)["tasks"][0]
        polls += 1
        if task["lastStatus"] == "RUNNING":
            return EcsStart(time.perf_counter() - t0, ack, sent_wall, time.time(), polls, task)
        if task["lastStatus"] in ("DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"):
            raise RuntimeError(f"task {arn} stopped: {task.get('stoppedReason')}")
        if tick - t0 > timeout:
            raise TimeoutError(f"task {arn} not RUNNING after {timeout} s")
        pause = poll_interval - (time.perf_counter() - tick)
        if pause > 0:
            time.sleep(pause)


def wait_all_running(
    ecs: EcsClient, arns: Sequence[str], *, t0: float, poll_interval: float, timeout: float
) -> float:
    """Seconds from `t0` until every task of `arns` is RUNNING (DescribeTasks, 100 a call)."""
    waiting = list(arns)
    while waiting:
        tick = time.perf_counter()
        still: list[str] = []
        for i in range(0, len(waiting), 100):
            found = ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": waiting[i : i + 100]})
            for task in found["tasks"]:
                status = task["lastStatus"]
                if status in ("DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"):
                    raise RuntimeError(
                        f"task {task['taskArn']} stopped: {task.get('stoppedReason')}"
                    )
                if status != "RUNNING":
                    still.append(str(task["taskArn"]))
        waiting = still
        if not waiting:
            break
        if tick - t0 > timeout:
            raise TimeoutError(f"{len(waiting)} tasks not RUNNING after {timeout} s")
        pause = poll_interval - (time.perf_counter() - tick)
        if pause > 0:
            time.sleep(pause)
    return time.perf_counter() - t0


def stop_and_wait(ecs: EcsClient, arns: Sequence[str], *, timeout: float = 30.0) -> None:
    """StopTask each, then wait until DescribeTasks shows them all STOPPED."""
    for arn in arns:
        ecs.call("StopTask", {"cluster": CLUSTER, "task": arn, "reason": "benchmark cleanup"})
    waiting = list(arns)
    deadline = time.monotonic() + timeout
    while waiting:
        still = []
        for i in range(0, len(waiting), 100):
            found = ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": waiting[i : i + 100]})
            still += [str(t["taskArn"]) for t in found["tasks"] if t["lastStatus"] != "STOPPED"]
        waiting = still
        if waiting and time.monotonic() > deadline:
            raise TimeoutError(f"{len(waiting)} tasks not STOPPED after {timeout} s")
        if waiting:
            time.sleep(0.05)


def docker_time(value: str) -> float:
    """Epoch seconds of one of Docker's RFC 3339 times (nanoseconds cut to micro)."""
    head, _, rest = value.rstrip("Z").partition(".")
    digits = "".join(itertools.takewhile(str.isdigit, rest))
    return datetime.fromisoformat(f"{head}.{digits[:6].ljust(6, '0')}+00:00").timestamp()
