"""Benchmark: a burst of 100 tasks until all RUNNING, against 100 starts through Docker.

Starts its own `openecs server` and a separate `openecs agent --capacity
fargate` process (plus an EC2 agent for the bridge mode) on free loopback
ports with temporary data dirs. Per mode and round, interleaved ABBA:

* ECS: 10 RunTask calls of 10 tasks, back to back, then DescribeTasks (100
  tasks a call) every `--poll-ms` until all 100 are RUNNING; the clock starts
  just before the first RunTask;
* Docker: the same 100 starts straight through the Engine API by 4 concurrent
  workers (project DockerClient): bridge = 100 containers; awsvpc = 100 pause
  containers plus 100 app containers in their namespaces — what Docker needs
  for 100 awsvpc tasks.

Target: ECS / Docker ≤ 1.5. It also prints the FARGATE agent's resident memory
(VmRSS, and VmHWM = its peak) while it manages the 100 running tasks; target
< 80 MB. Every container is removed before the next burst and at the end.

    .venv/bin/python bench/task_burst.py [--rounds 2] [--modes awsvpc,bridge]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskbench.baseline import Launcher
from taskbench.report import Row, median, ms, print_table, write_results
from taskbench.stack import (
    AgentProcess,
    CpuMeter,
    Stack,
    cpu_seconds,
    remove_containers,
    rss_kib,
)
from taskbench.tasks import (
    AWSVPC_CPU,
    AWSVPC_MEMORY_MIB,
    BRIDGE_MEMORY_MIB,
    CLUSTER,
    COMMAND,
    register_definitions,
    run_and_wait,
    run_tasks,
    stop_and_wait,
    wait_all_running,
)
from tests.support.images import ensure_busybox_image

from openecs.agent import labels as L
from openecs.agent.docker_api import DockerClient

RATIO_TARGET = 1.5
RSS_TARGET_MB = 80.0
TASKS = 100
PER_CALL = 10
WORKERS = 4


@dataclass
class EcsBurst:
    seconds: float
    submitted: float  # the 10th RunTask answered
    last_received: float  # the last task's runner began on the agent (pullStartedAt)
    last_running: float  # the last RUNNING report applied at the server (startedAt)
    rss_kib: dict[str, int] = field(default_factory=dict)
    server_rss_kib: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    describe_cpu: float = 0.0  # server CPU of one DescribeTasks of the 100 tasks


@dataclass
class ModeResult:
    mode: str
    ecs: list[EcsBurst] = field(default_factory=list)
    docker: list[float] = field(default_factory=list)


def _budget_exceeded(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("benchmark time budget exceeded")


def _ecs_burst(stack: Stack, agent: AgentProcess, mode: str, args: argparse.Namespace) -> EcsBurst:
    ecs = stack.client()
    assert stack.server is not None
    meter = CpuMeter({"server": stack.server.pid, "agent": agent.pid})
    meter.start()
    sent_wall = time.time()
    t0 = time.perf_counter()
    arns: list[str] = []
    for _ in range(TASKS // PER_CALL):
        arns += run_tasks(ecs, mode, PER_CALL)
    submitted = time.perf_counter() - t0
    seconds = wait_all_running(
        ecs, arns, t0=t0, poll_interval=args.poll_ms / 1000, timeout=args.timeout
    )
    cpu = meter.stop()
    rss = rss_kib(agent.pid)
    time.sleep(args.settle)  # the agent keeps managing 100 running tasks
    steady = rss_kib(agent.pid)
    server_rss = rss_kib(stack.server.pid)
    before = cpu_seconds(stack.server.pid)
    tasks = ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": arns})["tasks"]
    describe_cpu = cpu_seconds(stack.server.pid) - before
    burst = EcsBurst(
        seconds,
        submitted,
        max(float(t["pullStartedAt"]) for t in tasks) - sent_wall,
        max(float(t["startedAt"]) for t in tasks) - sent_wall,
        {"VmRSS": max(rss["VmRSS"], steady["VmRSS"]), "VmHWM": steady["VmHWM"]},
        server_rss,
        cpu,
        describe_cpu,
    )
    # Off the clock: stop them all and remove their containers.
    for arn in arns:
        ecs.call("StopTask", {"cluster": CLUSTER, "task": arn, "reason": "benchmark cleanup"})
    remove_containers([f"{L.AGENT}={agent.agent_id}"])
    stop_and_wait(ecs, arns, timeout=args.timeout)
    ecs.close()
    return burst


def _rows(result: ModeResult) -> list[Row]:
    what = "EC2 bridge" if result.mode == "bridge" else "FARGATE awsvpc"
    base = "100 containers" if result.mode == "bridge" else "100 pause + 100 app containers"
    med_e = median([b.seconds for b in result.ecs])
    med_d = median(result.docker)
    ratio = med_e / med_d
    rows = [
        Row(
            f"{what}: 100 tasks → all RUNNING (median of {len(result.ecs)})",
            ms(med_e),
            f"{ms(med_d)} ({base}, {WORKERS} workers)",
            f"{ratio:.2f}",
            f"≤ {RATIO_TARGET}",
            ratio <= RATIO_TARGET,
        )
    ]
    if result.mode == "awsvpc":
        rss_mb = max(b.rss_kib["VmRSS"] for b in result.ecs) / 1024
        peak_mb = max(b.rss_kib["VmHWM"] for b in result.ecs) / 1024
        rows.append(
            Row(
                "FARGATE agent RSS with 100 running tasks (own process)",
                f"{rss_mb:.1f} MB",
                "-",
                "-",
                f"< {RSS_TARGET_MB:.0f} MB",
                rss_mb < RSS_TARGET_MB,
            )
        )
        rows.append(Row("FARGATE agent peak RSS (VmHWM)", f"{peak_mb:.1f} MB", "-", "-", "-", None))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="ECS and Docker bursts per mode")
    parser.add_argument("--modes", default="awsvpc,bridge")
    parser.add_argument(
        "--poll-ms",
        type=float,
        default=500.0,
        help="DescribeTasks interval (one of 100 tasks costs the server 20-30 ms of CPU)",
    )
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between bursts")
    parser.add_argument("--timeout", type=float, default=120.0, help="per burst, seconds")
    parser.add_argument("--budget", type=int, default=1800, help="seconds before giving up")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= {"bridge", "awsvpc"} or not 1 <= args.rounds <= 5:
        parser.error("modes are bridge and awsvpc; rounds 1..5")
    signal.signal(signal.SIGALRM, _budget_exceeded)
    signal.alarm(args.budget)

    image = ensure_busybox_image()
    load_before = os.getloadavg()[0]
    results: list[ModeResult] = []
    with Stack(keep_logs=args.keep_logs) as stack, asyncio.Runner() as runner:
        stack.start_server()
        register_definitions(stack.client(), image)
        agents: dict[str, AgentProcess] = {}
        if "awsvpc" in modes:
            agents["awsvpc"] = stack.start_agent("fargate", capacity="fargate")
        if "bridge" in modes:
            agents["bridge"] = stack.start_agent("ec2", capacity="ec2", cluster=CLUSTER)
        docker = runner.run(_open_docker())
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
                warm = stack.client()
                start = run_and_wait(warm, mode, poll_interval=0.01)
                stop_and_wait(warm, [str(start.task["taskArn"])])
                remove_containers([f"{L.AGENT}={agents[mode].agent_id}"])
                warm.close()
                result = ModeResult(mode)
                print(f"{mode}: {args.rounds} rounds of ECS and Docker bursts (ABBA)", flush=True)
                for r in range(args.rounds):
                    order = ("ecs", "docker") if r % 2 == 0 else ("docker", "ecs")
                    for which in order:
                        time.sleep(args.settle)
                        if which == "ecs":
                            burst = _ecs_burst(stack, agents[mode], mode, args)
                            result.ecs.append(burst)
                            print(
                                f"  ecs    {ms(burst.seconds)}: 10 RunTask answered by "
                                f"{ms(burst.submitted)}, last task received by the agent at "
                                f"{ms(burst.last_received)}, last RUNNING at the server at "
                                f"{ms(burst.last_running)}; agent RSS "
                                f"{burst.rss_kib['VmRSS'] / 1024:.1f} MB (peak "
                                f"{burst.rss_kib['VmHWM'] / 1024:.1f} MB), server RSS "
                                f"{burst.server_rss_kib['VmRSS'] / 1024:.1f} MB",
                                flush=True,
                            )
                            used = ", ".join(f"{k} {v:.2f} s" for k, v in burst.cpu.items())
                            print(
                                f"         CPU during the burst: {used}; one DescribeTasks of "
                                f"100 tasks: {burst.describe_cpu * 1000:.0f} ms of server CPU",
                                flush=True,
                            )
                        else:
                            engine = CpuMeter({})
                            engine.start()
                            seconds, ids = runner.run(launcher.burst(mode, TASKS, WORKERS))
                            used = ", ".join(f"{k} {v:.2f} s" for k, v in engine.stop().items())
                            result.docker.append(seconds)
                            print(
                                f"  docker {ms(seconds)}: {len(ids)} containers; CPU: {used}",
                                flush=True,
                            )
                            runner.run(launcher.remove(ids))
                results.append(result)
        finally:
            runner.run(docker.aclose())
    signal.alarm(0)
    print(
        f"\n{os.cpu_count()} CPUs; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after (other work on the machine skews both sides)"
    )

    rows = [row for result in results for row in _rows(result)]
    print_table("Task burst: 100 tasks → all RUNNING vs 100 starts through Docker", rows)
    raw = {r.mode: {"ecs": [asdict(b) for b in r.ecs], "docker_seconds": r.docker} for r in results}
    print(f"raw numbers: {write_results('task_burst', rows, raw)}")
    return 0  # a missed target is a finding, not a failure


async def _open_docker() -> DockerClient:
    client = DockerClient()
    await client.api_version()
    return client


if __name__ == "__main__":
    sys.exit(main())
