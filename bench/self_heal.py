"""Benchmark: a service heals itself. SIGKILL one task's container; time until the
service's replacement task is RUNNING. Beside it, in the same run, the floor:
the same containers started straight through Docker.

Starts its own `openecs up` (server + embedded FARGATE agent) on a free
loopback port with a temporary data dir, and a FARGATE (awsvpc) service of 3
tasks (the local busybox image, 256 CPU units each). Each sample, interleaved
with a baseline start:

* self-heal: from just before the app container of one task is killed through
  the Engine API until ListTasks + DescribeTasks (polled every `--poll-ms`)
  show a new task of the service RUNNING. Also shown: the server's own figure,
  the replacement's `startedAt` minus the kill time (same host clock).
* baseline: what Docker needs for the same task: create + start of a pause
  container on the awsvpc network, then create + start + inspect of the app
  container in its namespace.

Target: median self-heal < 3 s.

    .venv/bin/python bench/self_heal.py [--samples 10] [--warmup 1] [--poll-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servicebench.stack import BENCH_LABEL, ServiceStack, until, write_results  # noqa: E402
from tests.support.images import ensure_busybox_image  # noqa: E402

from openecs.agent.agent import AWSVPC_NETWORK, AgentConfig  # noqa: E402
from openecs.agent.docker_api import DockerClient, NotFound  # noqa: E402

TARGET_SECONDS = 3.0
TASKS = 3
IDLE = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
SUBNETS = {"awsvpcConfiguration": {"subnets": ["subnet-00000001"]}}
PAUSE_IMAGE = AgentConfig(endpoint="", cluster="", access_key="", secret_key="").pause_image
MIB = 1024 * 1024


def steady_tasks(stack: ServiceStack, cluster: str, service: str) -> list[dict[str, Any]]:
    """The service's tasks once exactly TASKS run and none is starting or stopping."""

    def check() -> list[dict[str, Any]] | None:
        arns = stack.ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
        if len(arns) != TASKS:
            return None
        tasks: list[dict[str, Any]] = stack.ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
        return tasks if all(t["lastStatus"] == "RUNNING" for t in tasks) else None

    return until(check, "the service to run its tasks", every=0.1)


def heal_once(
    stack: ServiceStack,
    runner: asyncio.Runner,
    docker: DockerClient,
    cluster: str,
    service: str,
    poll: float,
) -> tuple[float, float]:
    """(seconds until a replacement is seen RUNNING, seconds until its startedAt)."""
    tasks = steady_tasks(stack, cluster, service)
    before = {t["taskArn"] for t in tasks}
    app = next(c for c in tasks[0]["containers"] if c["name"] == "app")
    killed_wall = time.time()
    t0 = time.perf_counter()
    runner.run(docker.container_kill(app["runtimeId"]))

    def replacement() -> dict[str, Any] | None:
        arns = stack.ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
        new = [a for a in arns if a not in before]
        if not new:
            return None
        found = stack.ecs.describe_tasks(cluster=cluster, tasks=new)["tasks"]
        return next((t for t in found if t["lastStatus"] == "RUNNING"), None)

    task = until(replacement, "the replacement to run", timeout=60, every=poll)
    seen = time.perf_counter() - t0
    return seen, task["startedAt"].timestamp() - killed_wall


async def baseline_once(docker: DockerClient, run_id: str) -> float:
    """Pause + app containers of one awsvpc task, straight through Docker."""
    labels = {BENCH_LABEL: run_id}
    t0 = time.perf_counter()
    pause = await docker.container_create(
        {
            "Image": PAUSE_IMAGE,
            "Cmd": ["sleep", "2147483647"],
            "Labels": labels,
            "HostConfig": {"NetworkMode": AWSVPC_NETWORK, "Memory": 16 * MIB},
        }
    )
    await docker.container_start(pause)
    app = await docker.container_create(
        {
            "Image": "openecs-test/busybox:latest",
            "Cmd": IDLE,
            "Labels": labels,
            "HostConfig": {"NetworkMode": f"container:{pause}", "Memory": 512 * MIB},
        }
    )
    await docker.container_start(app)
    while not (await docker.container_inspect(app))["State"]["Running"]:
        await asyncio.sleep(0.005)
    seconds = time.perf_counter() - t0
    for cid in (app, pause):
        with contextlib.suppress(NotFound):
            await docker.container_remove(cid, force=True, volumes=True)
    return seconds


def fmt(seconds: float) -> str:
    return f"{seconds:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--poll-ms", type=float, default=50.0)
    args = parser.parse_args()
    ensure_busybox_image()
    healed: list[float] = []
    server_side: list[float] = []
    baseline: list[float] = []
    with ServiceStack(up=True) as stack, asyncio.Runner() as runner:
        docker = DockerClient()
        cluster, service = "bench", "self-heal"
        stack.ecs.create_cluster(clusterName=cluster)
        td = stack.ecs.register_task_definition(
            family="self-heal",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": "app",
                    "image": "openecs-test/busybox:latest",
                    "command": IDLE,
                    "stopTimeout": 2,
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        stack.ecs.create_service(
            cluster=cluster,
            serviceName=service,
            taskDefinition=td,
            desiredCount=TASKS,
            launchType="FARGATE",
            networkConfiguration=SUBNETS,
        )
        for i in range(args.warmup + args.samples):
            measured = i >= args.warmup
            order = ("heal", "docker") if i % 2 == 0 else ("docker", "heal")
            for which in order:
                if which == "heal":
                    seen, started = heal_once(
                        stack, runner, docker, cluster, service, args.poll_ms / 1000
                    )
                else:
                    base = runner.run(baseline_once(docker, stack.run_id))
            if measured:
                healed.append(seen)
                server_side.append(started)
                baseline.append(base)
            label = f"sample {i + 1 - args.warmup}" if measured else "warm-up"
            print(
                f"  {label}: replacement RUNNING after {fmt(seen)} "
                f"(startedAt {fmt(started)})  docker {fmt(base)}",
                flush=True,
            )
        runner.run(docker.aclose())
    med, med_base = statistics.median(healed), statistics.median(baseline)
    print("\nSelf-heal: SIGKILL of a task's container → replacement RUNNING")
    print(f"(load average while measured: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print("| figure | median | max | baseline (Docker) median | ratio | target | met? |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| replacement seen RUNNING (poll {args.poll_ms:.0f} ms) | {fmt(med)} | "
        f"{fmt(max(healed))} | {fmt(med_base)} | {med / med_base:.1f}x | "
        f"< {TARGET_SECONDS:.0f} s | {'yes' if med < TARGET_SECONDS else 'NO'} |"
    )
    print(
        f"| replacement startedAt - kill | {fmt(statistics.median(server_side))} | "
        f"{fmt(max(server_side))} | | | | |"
    )
    write_results(
        "self_heal.json",
        {
            "samples_seconds": healed,
            "started_at_seconds": server_side,
            "baseline_seconds": baseline,
            "median_seconds": med,
            "baseline_median_seconds": med_base,
            "target_seconds": TARGET_SECONDS,
        },
    )
    return 0 if med < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
