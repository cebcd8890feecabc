"""Benchmark: a rolling deployment. A 10-task service (maximumPercent 200,
minimumHealthyPercent 100) moves to a new task definition revision whose
container has a health check; time from UpdateService until the new
deployment is COMPLETED. Beside it, in the same run, the floor: 10 such
containers started straight through Docker, until running and until healthy.

Starts its own `openecs server` on a free loopback port with a temporary data
dir and one `openecs agent --capacity ec2` offering room for 20 tasks (the
deployment runs old and new side by side). Tasks are bridge-mode busybox
containers whose health check (`true`) runs every 5 s: ECS's shortest
interval (RegisterTaskDefinition refuses less), so a task is healthy about
5 s after it starts, on ECS and on Docker alike. Rounds alternate between two
revisions; each is measured with DescribeServices polled every `--poll-ms`.

Target: median time to COMPLETED < 30 s.

    .venv/bin/python bench/deploy.py [--rounds 3] [--poll-ms 100]
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

from openecs.agent.docker_api import DockerClient, NotFound  # noqa: E402

TARGET_SECONDS = 30.0
TASKS = 10
IMAGE = "openecs-test/busybox:latest"
IDLE = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
INTERVAL = 5  # seconds; ECS's minimum health check interval
HEALTH = {"command": ["CMD-SHELL", "true"], "interval": INTERVAL, "timeout": 5, "retries": 3}
NANOS = 1_000_000_000
MIB = 1024 * 1024


def register(stack: ServiceStack, marker: str) -> str:
    arn: str = stack.ecs.register_task_definition(
        family="deploy",
        networkMode="bridge",
        requiresCompatibilities=["EC2"],
        containerDefinitions=[
            {
                "name": "app",
                "image": IMAGE,
                "command": IDLE,
                "cpu": 16,
                "memory": 32,
                "stopTimeout": 2,
                "healthCheck": HEALTH,
                "environment": [{"name": "REVISION", "value": marker}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


def completed(stack: ServiceStack, cluster: str, service: str, deployment: str) -> bool:
    found = stack.ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    deployments: list[dict[str, Any]] = found["deployments"]
    return (
        len(deployments) == 1
        and deployments[0]["id"] == deployment
        and deployments[0]["rolloutState"] == "COMPLETED"
        and found["runningCount"] == TASKS
    )


def deploy_once(
    stack: ServiceStack, cluster: str, service: str, td: str, poll: float
) -> tuple[float, float]:
    """(seconds until COMPLETED, seconds until the new tasks all ran)."""
    t0 = time.perf_counter()
    updated = stack.ecs.update_service(cluster=cluster, service=service, taskDefinition=td)
    deployment = updated["service"]["deployments"][0]["id"]
    all_running: float | None = None

    def done() -> bool:
        nonlocal all_running
        if all_running is None:
            arns = stack.ecs.list_tasks(cluster=cluster, startedBy=deployment)["taskArns"]
            if len(arns) >= TASKS:
                tasks = stack.ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
                if sum(t["lastStatus"] == "RUNNING" for t in tasks) >= TASKS:
                    all_running = time.perf_counter() - t0
        return completed(stack, cluster, service, deployment)

    try:
        until(done, "the deployment to complete", timeout=300, every=poll)
    except TimeoutError:
        found = stack.ecs.describe_services(cluster=cluster, services=[service])["services"][0]
        for d in found["deployments"]:
            print(
                f"  stuck: {d['id']} {d['status']} {d['rolloutState']} desired {d['desiredCount']}"
                f" running {d['runningCount']} pending {d['pendingCount']}"
                f" failed {d.get('failedTasks')}"
            )
        for event in reversed(found["events"][:12]):
            print(f"  event: {event['message'][:200]}")
        raise
    total = time.perf_counter() - t0
    if os.environ.get("DEPLOY_BENCH_EVENTS"):
        events = stack.ecs.describe_services(cluster=cluster, services=[service])["services"][0]
        for event in reversed(events["events"][:12]):
            print(f"    {event['createdAt'].timestamp() % 1000:8.2f} {event['message'][:150]}")
    return total, all_running if all_running is not None else total


async def baseline_once(docker: DockerClient, run_id: str) -> tuple[float, float]:
    """(seconds until 10 containers run, until all are healthy), started concurrently."""
    body = {
        "Image": IMAGE,
        "Cmd": IDLE,
        "Labels": {BENCH_LABEL: run_id},
        "Healthcheck": {
            "Test": HEALTH["command"],
            "Interval": INTERVAL * NANOS,
            "Timeout": 5 * NANOS,
            "Retries": 3,
        },
        "HostConfig": {"NetworkMode": "bridge", "Memory": 32 * MIB, "CpuShares": 16},
    }
    t0 = time.perf_counter()

    async def one() -> str:
        cid = await docker.container_create(body)
        await docker.container_start(cid)
        return cid

    ids = await asyncio.gather(*(one() for _ in range(TASKS)))
    running = time.perf_counter() - t0
    while True:
        states = [await docker.container_inspect(cid) for cid in ids]
        if all(s["State"].get("Health", {}).get("Status") == "healthy" for s in states):
            break
        await asyncio.sleep(0.05)
    healthy = time.perf_counter() - t0
    for cid in ids:
        with contextlib.suppress(NotFound):
            await docker.container_remove(cid, force=True, volumes=True)
    return running, healthy


def fmt(seconds: float) -> str:
    return f"{seconds:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll-ms", type=float, default=100.0)
    args = parser.parse_args()
    ensure_busybox_image()
    totals: list[float] = []
    runs: list[float] = []
    base_running: list[float] = []
    base_healthy: list[float] = []
    with ServiceStack(up=False) as stack, asyncio.Runner() as runner:
        docker = DockerClient()
        cluster, service = "bench", "deploy"
        stack.ecs.create_cluster(clusterName=cluster)
        stack.ec2_agent(cluster, cpu_units=65536, memory_mib=65536)
        revisions = [register(stack, "a"), register(stack, "b")]
        first = stack.ecs.create_service(
            cluster=cluster,
            serviceName=service,
            taskDefinition=revisions[0],
            desiredCount=TASKS,
            launchType="EC2",
            deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100},
        )["service"]["deployments"][0]["id"]
        until(lambda: completed(stack, cluster, service, first), "the service to settle", 300)
        for i in range(args.rounds):
            target = revisions[(i + 1) % 2]
            order = ("ecs", "docker") if i % 2 == 0 else ("docker", "ecs")
            for which in order:
                if which == "ecs":
                    total, ran = deploy_once(stack, cluster, service, target, args.poll_ms / 1000)
                else:
                    running, healthy = runner.run(baseline_once(docker, stack.run_id))
            totals.append(total)
            runs.append(ran)
            base_running.append(running)
            base_healthy.append(healthy)
            print(
                f"  round {i + 1}: COMPLETED after {fmt(total)} (10 new RUNNING after "
                f"{fmt(ran)})  docker: running {fmt(running)}, healthy {fmt(healthy)}",
                flush=True,
            )
        runner.run(docker.aclose())
    med = statistics.median(totals)
    print(f"\nRolling deployment of {TASKS} tasks, 100%/200%, health check every {INTERVAL} s")
    print(f"(load average while measured: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print("| figure | median | max | baseline (Docker) median | target | met? |")
    print("|---|---|---|---|---|---|")
    print(
        f"| UpdateService → deployment COMPLETED | {fmt(med)} | {fmt(max(totals))} | "
        f"{fmt(statistics.median(base_healthy))} (10 healthy) | < {TARGET_SECONDS:.0f} s | "
        f"{'yes' if med < TARGET_SECONDS else 'NO'} |"
    )
    print(
        f"| UpdateService → 10 new tasks RUNNING | {fmt(statistics.median(runs))} | "
        f"{fmt(max(runs))} | {fmt(statistics.median(base_running))} (10 running) | | |"
    )
    write_results(
        "deploy.json",
        {
            "completed_seconds": totals,
            "all_running_seconds": runs,
            "baseline_running_seconds": base_running,
            "baseline_healthy_seconds": base_healthy,
            "median_seconds": med,
            "target_seconds": TARGET_SECONDS,
        },
    )
    return 0 if med < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
