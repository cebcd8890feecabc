"""Benchmark: RunTask → RUNNING for one task, against the same start through Docker.

Starts its own `openecs server` plus two `openecs agent` processes (an EC2
agent in cluster `bench` for bridge-mode tasks, and a FARGATE agent for
awsvpc tasks) on free loopback ports with temporary data dirs. For each mode,
INTERLEAVED (alternating which goes first), it measures

* ECS: from just before RunTask is sent until DescribeTasks, polled every
  `--poll-ms`, shows the task RUNNING (a long-running `sleep` in the local
  busybox image);
* Docker: the same container started straight through the Engine API with the
  project's DockerClient: create + start + inspect (bridge), or pause container
  create + start, then app create + start + inspect in its namespace (awsvpc).

Targets (the "Run real containers" issue): median ECS / median Docker ≤ 1.2 and
p99 < 1 s, for each mode. Also prints where the ECS time goes, from the task's
own timestamps (createdAt, pullStartedAt, pullStoppedAt, startedAt) and the
containers' Created/StartedAt in Docker.

    .venv/bin/python bench/task_start.py [--samples 20] [--modes bridge,awsvpc]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskbench.baseline import BaselineStart, Launcher
from taskbench.report import Row, median, ms, percentile, print_table, write_results
from taskbench.stack import AgentProcess, CpuMeter, Stack
from taskbench.tasks import (
    AWSVPC_CPU,
    AWSVPC_MEMORY_MIB,
    BRIDGE_MEMORY_MIB,
    COMMAND,
    EcsStart,
    docker_time,
    register_definitions,
    run_and_wait,
    stop_and_wait,
)
from tests.support.images import ensure_busybox_image

from openecs.agent import labels as L
from openecs.agent.docker_api import DockerClient, NotFound

MEDIAN_RATIO_TARGET = 1.2
P99_TARGET = 1.0


@dataclass
class ModeResult:
    mode: str
    ecs: list[EcsStart] = field(default_factory=list)
    docker: list[float] = field(default_factory=list)
    docker_steps: list[dict[str, float]] = field(default_factory=list)
    segments: list[dict[str, float]] = field(default_factory=list)
    docker_segments: list[dict[str, float]] = field(default_factory=list)
    ecs_cpu: list[dict[str, float]] = field(default_factory=list)
    docker_cpu: list[dict[str, float]] = field(default_factory=list)


def _budget_exceeded(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("benchmark time budget exceeded")


async def _container_times(docker: DockerClient, arn: str) -> dict[str, tuple[float, float]]:
    """(Created, StartedAt) of each of the task's containers, by container name."""
    out: dict[str, tuple[float, float]] = {}
    for item in await docker.container_list(all=True, labels={L.TASK_ARN: arn}):
        raw = await docker.container_inspect(str(item["Id"]))
        name = (raw["Config"]["Labels"] or {}).get(L.CONTAINER_NAME, "")
        role = "pause" if name.startswith("~internal") else "app"
        out[role] = (docker_time(raw["Created"]), docker_time(raw["State"]["StartedAt"]))
    return out


def _segments(start: EcsStart, containers: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Where one start's time went, from timestamps on the one host clock."""
    t = start.task
    points: list[tuple[str, float]] = [
        ("RunTask sent → task row created (server)", t["createdAt"]),
        ("→ agent runner begins (commit, push, poll answer)", t["pullStartedAt"]),
        ("→ image present checked", t["pullStoppedAt"]),
    ]
    if "pause" in containers:
        created, started = containers["pause"]
        points += [
            ("→ pause container created (Docker)", created),
            ("→ pause process started (Docker)", started),
        ]
    created, started = containers["app"]
    points += [
        ("→ app container created (Docker)", created),
        ("→ app process started (Docker)", started),
        ("→ agent marks the task RUNNING (startedAt)", t["startedAt"]),
        ("→ DescribeTasks sees RUNNING (report, commit, poll)", start.seen_wall),
    ]
    out: dict[str, float] = {}
    previous = start.sent_wall
    for name, value in points:
        out[name] = float(value) - previous
        previous = float(value)
    return out


async def _baseline_segments(docker: DockerClient, start: BaselineStart) -> dict[str, float]:
    """Where one Docker-only start's time went, with the same Docker timestamps."""
    points: list[tuple[str, float]] = []
    if len(start.ids) == 2:
        pause = await docker.container_inspect(start.ids[0])
        points += [
            ("calls sent → pause container created (Docker)", docker_time(pause["Created"])),
            ("→ pause process started (Docker)", docker_time(pause["State"]["StartedAt"])),
        ]
    app = start.app_state
    points += [
        ("→ app container created (Docker)", docker_time(app["Created"])),
        ("→ app process started (Docker)", docker_time(app["State"]["StartedAt"])),
        ("→ start answered, inspect shows running", start.sent_wall + start.seconds),
    ]
    out: dict[str, float] = {}
    previous = start.sent_wall
    for name, value in points:
        out[name] = value - previous
        previous = value
    return out


async def _remove_task_containers(docker: DockerClient, arn: str) -> None:
    for item in await docker.container_list(all=True, labels={L.TASK_ARN: arn}):
        with contextlib.suppress(NotFound):
            await docker.container_remove(str(item["Id"]), force=True, volumes=True)


def _bench_mode(
    stack: Stack,
    runner: asyncio.Runner,
    docker: DockerClient,
    launcher: Launcher,
    agent: AgentProcess,
    mode: str,
    args: argparse.Namespace,
) -> ModeResult:
    ecs = stack.client()
    result = ModeResult(mode)
    assert stack.server is not None
    meter = CpuMeter({"server": stack.server.pid, "agent": agent.pid})
    cpu: dict[str, dict[str, float]] = {}
    total = args.warmup + args.samples
    for i in range(total):
        measured = i >= args.warmup
        order = ("ecs", "docker") if i % 2 == 0 else ("docker", "ecs")
        start: EcsStart | None = None
        baseline = None
        for which in order:
            meter.start()
            if which == "ecs":
                start = run_and_wait(ecs, mode, poll_interval=args.poll_ms / 1000)
            else:
                baseline = runner.run(launcher.start(mode))
            cpu[which] = meter.stop()
            time.sleep(args.settle)
        assert start is not None and baseline is not None
        arn = str(start.task["taskArn"])
        if measured:
            result.ecs.append(start)
            result.docker.append(baseline.seconds)
            result.docker_steps.append(baseline.steps)
            result.ecs_cpu.append(cpu["ecs"])
            result.docker_cpu.append(cpu["docker"])
            containers = runner.run(_container_times(docker, arn))
            result.segments.append(_segments(start, containers))
            result.docker_segments.append(runner.run(_baseline_segments(docker, baseline)))
        runner.run(launcher.remove(baseline.ids))
        runner.run(_remove_task_containers(docker, arn))
        stop_and_wait(ecs, [arn])
        time.sleep(args.settle)
        label = "sample" if measured else "warm-up"
        print(
            f"  {mode} {label} {i + 1 - (args.warmup if measured else 0)}: "
            f"ecs {ms(start.seconds)} (RunTask answered {ms(start.ack)}, {start.polls} polls)"
            f"  docker {ms(baseline.seconds)}",
            flush=True,
        )
    ecs.close()
    return result


def _rows(result: ModeResult) -> list[Row]:
    ecs = [s.seconds for s in result.ecs]
    med_e, med_d = median(ecs), median(result.docker)
    p99_e, p99_d = percentile(ecs, 99), percentile(result.docker, 99)
    what = "EC2 bridge" if result.mode == "bridge" else "FARGATE awsvpc"
    ratio = med_e / med_d
    return [
        Row(
            f"{what}: median RunTask→RUNNING",
            ms(med_e),
            ms(med_d),
            f"{ratio:.2f}",
            f"≤ {MEDIAN_RATIO_TARGET}",
            ratio <= MEDIAN_RATIO_TARGET,
        ),
        Row(
            f"{what}: p99 RunTask→RUNNING",
            ms(p99_e),
            ms(p99_d),
            f"{p99_e / p99_d:.2f}",
            f"< {P99_TARGET * 1000:.0f} ms",
            p99_e < P99_TARGET,
        ),
    ]


def _print_breakdown(result: ModeResult) -> None:
    what = "EC2 bridge" if result.mode == "bridge" else "FARGATE awsvpc"
    print(f"\nWhere the time goes, {what} (median of {len(result.segments)} starts, ms):")
    for name in result.segments[0]:
        values = [s[name] for s in result.segments]
        print(
            f"  {name:<52} {median(values) * 1000:7.1f}   (p90 {percentile(values, 90) * 1000:.1f})"
        )
    med_total = median([s.seconds for s in result.ecs])
    print(f"  {'total':<52} {med_total * 1000:7.1f}")
    print("  The Docker baseline, same Docker timestamps (median ms):")
    for name in result.docker_segments[0]:
        values = [s[name] for s in result.docker_segments]
        print(
            f"  {name:<52} {median(values) * 1000:7.1f}   (p90 {percentile(values, 90) * 1000:.1f})"
        )
    print(f"  {'total':<52} {median(result.docker) * 1000:7.1f}")
    steps = sorted({k for s in result.docker_steps for k in s})
    parts = ", ".join(
        f"{k} {median([s.get(k, 0.0) for s in result.docker_steps]) * 1000:.1f}" for k in steps
    )
    print(f"  Docker baseline calls (median ms, summed per start): {parts}")
    print("  CPU used during one start (median ms, from /proc; the engine is shared):")
    for label, samples in (("ECS", result.ecs_cpu), ("Docker", result.docker_cpu)):
        names = [n for n in samples[0] if any(s[n] for s in samples)]
        used = ", ".join(f"{n} {median([s[n] for s in samples]) * 1000:.0f}" for n in names)
        print(f"    {label:<7} {used}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--modes", default="bridge,awsvpc")
    parser.add_argument("--poll-ms", type=float, default=10.0, help="DescribeTasks interval")
    parser.add_argument(
        "--settle", type=float, default=0.2, help="idle seconds between measured starts"
    )
    parser.add_argument("--budget", type=int, default=900, help="seconds before giving up")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= {"bridge", "awsvpc"} or not 1 <= args.samples <= 200:
        parser.error("modes are bridge and awsvpc; samples 1..200")
    signal.signal(signal.SIGALRM, _budget_exceeded)
    signal.alarm(args.budget)

    image = ensure_busybox_image()
    load_before = os.getloadavg()[0]
    results: list[ModeResult] = []
    with Stack(keep_logs=args.keep_logs) as stack, asyncio.Runner() as runner:
        stack.start_server()
        register_definitions(stack.client(), image)
        agents: dict[str, AgentProcess] = {}
        if "bridge" in modes:
            agents["bridge"] = stack.start_agent("ec2", capacity="ec2", cluster="bench")
        if "awsvpc" in modes:
            agents["awsvpc"] = stack.start_agent("fargate", capacity="fargate")

        async def open_docker() -> DockerClient:
            client = DockerClient()
            await client.api_version()
            return client

        docker = runner.run(open_docker())
        try:
            for mode in modes:
                launcher = Launcher(
                    docker,
                    image=image,
                    command=COMMAND,
                    run_id=stack.run_id,
                    app_memory_mib=BRIDGE_MEMORY_MIB if mode == "bridge" else AWSVPC_MEMORY_MIB,
                    app_cpu_shares=2 if mode == "bridge" else AWSVPC_CPU,
                )
                print(f"{mode}: {args.warmup} warm-up + {args.samples} interleaved starts")
                agent = agents[mode]
                results.append(_bench_mode(stack, runner, docker, launcher, agent, mode, args))
        finally:
            runner.run(docker.aclose())
    signal.alarm(0)
    print(
        f"\n{os.cpu_count()} CPUs; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after (other work on the machine skews both sides)"
    )

    rows = [row for result in results for row in _rows(result)]
    print_table("Task start: RunTask → RUNNING vs the same start through Docker", rows)
    for result in results:
        _print_breakdown(result)
    raw = {
        r.mode: {
            "ecs_seconds": [s.seconds for s in r.ecs],
            "docker_seconds": r.docker,
            "segments": r.segments,
            "docker_segments": r.docker_segments,
            "ecs_cpu": r.ecs_cpu,
            "docker_cpu": r.docker_cpu,
        }
        for r in results
    }
    print(f"raw numbers: {write_results('task_start', rows, raw)}")
    return 0  # a missed target is a finding, not a failure


if __name__ == "__main__":
    sys.exit(main())
