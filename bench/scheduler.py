"""The scheduler's speed: placements/s of the pure scheduler, tasks/s end to end.

1. Pure scheduler (bench/scheduler_pure.py's clusters and scenarios, imported):
   10,000 tasks on 1,000 / 2,000 / 5,000 instances (four sizes, three zones,
   attributes), as one request and as one-task requests on one snapshot, for
   (a) binpack memory, (b) spread by zone then instance, (c) a memberOf
   constraint.
2. End to end: a real `openecs server` (SQLite, default log level) and a real
   `openecs fleet` of N simulated instances (six sizes, three zones, whose
   tasks report RUNNING at once). `--concurrency` threads send signed RunTask
   calls of count 10 back to back, each on its own keep-alive connection, for
   `--duration` seconds or 10,000 tasks; tasks/s counts the tasks placed from
   the first call until the fleet reported every one of them RUNNING
   (DescribeClusters). The baseline beside it, same clients, same server, same
   hour: a no-op signed call (ListClusters) at the same concurrency.
3. Memory and growth: per N the fleet's registration time, the server's
   resident memory with N instances, and, at the largest N, with 20,000 tasks
   placed (`--memory-tasks`).

    .venv/bin/python bench/scheduler.py [--duration 20] [--concurrency 4]
        [--sizes 1000,2000,5000] [--memory-tasks 20000]

Targets (2 cores): >= 2,000 placements/s pure at 1,000 instances; >= 200
tasks/s end to end at 1,000 instances; < 500 MB resident with 5,000 instances
and 20,000 tasks. Raw figures go to bench/results/scheduler.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api_latency import (  # noqa: E402
    TARGET_PREFIX,
    Signer,
    check_signer_against_botocore,
    machine,
    process_cpu_seconds,
)
from bench.scheduler_pure import (  # noqa: E402
    SCENARIOS,
    one_request,
    one_task_requests,
)
from tests.support.server import (  # noqa: E402
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    FleetProcess,
    ServerProcess,
)

PURE_TARGET = 2_000  # placements/s at 1,000 instances
E2E_TARGET = 200  # tasks/s at 1,000 instances
MEMORY_TARGET_MB = 500  # with 5,000 instances and 20,000 tasks
TASKS_PER_SCENARIO = 10_000

# The three scenarios of the brief, as scheduler_pure names them.
PURE_SCENARIOS = ("binpack memory", "spread AZ, then instanceId", "memberOf + random")
# The same rules through RunTask (the fleet's attributes: ecs.instance-type, rack r0..r7).
E2E_SCENARIOS: dict[str, dict[str, Any]] = {
    "binpack memory": {"placementStrategy": [{"type": "binpack", "field": "memory"}]},
    "spread AZ, then instanceId": {
        "placementStrategy": [
            {"type": "spread", "field": "attribute:ecs.availability-zone"},
            {"type": "spread", "field": "instanceId"},
        ]
    },
    "memberOf + random": {
        "placementStrategy": [{"type": "random"}],
        "placementConstraints": [
            {
                "type": "memberOf",
                "expression": "attribute:ecs.instance-type =~ (m5|r5|c5).* and "
                "not(attribute:rack in [r0, r1])",
            }
        ],
    },
}


# --- the pure scheduler ---------------------------------------------------------------


@dataclass
class PureResult:
    instances: int
    scenario: str
    one_request: float  # placements/s
    one_task_requests: float


def pure(sizes: list[int], tasks: int) -> list[PureResult]:
    out = []
    for size in sizes:
        for name in PURE_SCENARIOS:
            strategy, constraints = SCENARIOS[name]
            out.append(
                PureResult(
                    size,
                    name,
                    round(one_request(size, strategy, constraints, tasks)),
                    round(one_task_requests(size, strategy, constraints, tasks)),
                )
            )
            print(f"  pure {size:,} {name}: {out[-1]}", file=sys.stderr, flush=True)
    return out


# --- end to end -----------------------------------------------------------------------


class Api:
    """Signed ECS calls on one keep-alive connection."""

    def __init__(self, signer: Signer, port: int) -> None:
        self.signer = signer
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def reconnect(self) -> None:
        """A fresh connection: the server closes keep-alive ones idle for 5 s."""
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        headers = self.signer.headers(f"{TARGET_PREFIX}.{operation}", body)
        self.conn.request("POST", "/", body=body, headers=headers)
        response = self.conn.getresponse()
        data: dict[str, Any] = json.loads(response.read() or b"{}")
        if response.status != 200:
            raise RuntimeError(f"{operation}: {response.status} {data}")
        return data

    def close(self) -> None:
        self.conn.close()


@dataclass
class Load:
    name: str
    instances: int
    concurrency: int
    calls: int
    tasks: int
    failures: int
    seconds: float  # first call sent → last task RUNNING
    per_second: float  # tasks/s (requests/s for the baseline)
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float  # per task (per request for the baseline)


def drive(
    apis: list[Api],
    operation: str,
    payload: dict[str, Any],
    *,
    duration: float,
    max_calls: int,
) -> tuple[list[float], int, int, float]:
    """Each client calls back to back until `duration` or `max_calls` in all:
    (latencies, tasks placed, failures, seconds)."""
    latencies: list[list[float]] = [[] for _ in apis]
    placed = [0] * len(apis)
    failed = [0] * len(apis)
    issued = [0]
    lock = threading.Lock()
    start = time.perf_counter()
    stop_at = start + duration

    errors: list[BaseException] = []

    def worker(slot: int) -> None:
        api = apis[slot]
        while time.perf_counter() < stop_at and not errors:
            with lock:
                if issued[0] >= max_calls:
                    return
                issued[0] += 1
            began = time.perf_counter()
            try:
                result = api.call(operation, payload)
            except BaseException as exc:  # raised again once every worker stopped
                errors.append(exc)
                return
            latencies[slot].append(time.perf_counter() - began)
            placed[slot] += len(result.get("tasks") or ())
            failed[slot] += len(result.get("failures") or ())

    for api in apis:
        api.reconnect()
    threads = [threading.Thread(target=worker, args=(s,)) for s in range(len(apis))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return (
        sorted(x for per in latencies for x in per),
        sum(placed),
        sum(failed),
        time.perf_counter() - start,
    )


def wait_running(api: Api, cluster: str, expected: int, timeout: float) -> None:
    api.reconnect()
    deadline = time.monotonic() + timeout
    while True:
        found = api.call("DescribeClusters", {"clusters": [cluster]})["clusters"][0]
        if found["runningTasksCount"] >= expected and found["pendingTasksCount"] == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{found['runningTasksCount']} of {expected} RUNNING in time")
        time.sleep(0.05)


def percentile(samples: list[float], p: float) -> float:
    return round(samples[min(len(samples) - 1, int(p * len(samples)))] * 1000, 1)


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


@dataclass
class Stack:
    """A server and a fleet of `instances` in cluster `bench`."""

    instances: int
    server: ServerProcess
    fleet: FleetProcess
    pid: int
    apis: list[Api]
    registered_seconds: float
    placed: int = 0

    def load(self, name: str, operation: str, payload: dict[str, Any], args: Any) -> Load:
        cpu_before = process_cpu_seconds(self.pid)
        began = time.perf_counter()
        max_calls = TASKS_PER_SCENARIO // 10 if operation == "RunTask" else 10**9
        samples, tasks, failures, _ = drive(
            self.apis, operation, payload, duration=args.duration, max_calls=max_calls
        )
        if operation == "RunTask":
            self.placed += tasks
            wait_running(self.apis[0], "bench", self.placed, timeout=120)
        seconds = time.perf_counter() - began
        cpu = process_cpu_seconds(self.pid) - cpu_before
        units = tasks if operation == "RunTask" else len(samples)
        return Load(
            name=name,
            instances=self.instances,
            concurrency=len(self.apis),
            calls=len(samples),
            tasks=tasks,
            failures=failures,
            seconds=round(seconds, 2),
            per_second=round(units / seconds, 1),
            p50_ms=round(statistics.median(samples) * 1000, 1),
            p99_ms=percentile(samples, 0.99),
            server_cpu_ms=round(cpu * 1000 / max(units, 1), 2),
        )

    def close(self) -> None:
        for api in self.apis:
            api.close()
        self.fleet.stop()
        self.server.stop()


def start_stack(instances: int, data_dir: Path, concurrency: int) -> Stack:
    server = ServerProcess(data_dir / "server", extra_args=["--log-level", "INFO"])
    server.start(timeout=300)
    assert server.proc is not None
    signer = Signer(f"127.0.0.1:{server.port}", ACCESS_KEY, SECRET_KEY, REGION, "ecs")
    check_signer_against_botocore(signer, server.endpoint)
    apis = [Api(signer, server.port) for _ in range(concurrency)]
    apis[0].call("CreateCluster", {"clusterName": "bench"})
    apis[0].call(
        "RegisterTaskDefinition",
        {
            "family": "bench",
            "containerDefinitions": [
                {"name": "app", "image": "busybox", "cpu": 64, "memory": 128, "essential": True}
            ],
        },
    )
    fleet = FleetProcess(server.endpoint, "bench", instances, data_dir / "fleet.log")
    began = time.perf_counter()
    fleet.start()
    fleet.wait_registered(server.client("ecs"), timeout=600)
    registered = time.perf_counter() - began
    return Stack(instances, server, fleet, server.proc.pid, apis, round(registered, 1))


@dataclass
class Growth:
    instances: int
    registered_seconds: float
    rss_mb_registered: float
    tasks: int = 0
    rss_mb_tasks: float = 0.0


@dataclass
class Report:
    pure: list[PureResult] = field(default_factory=list)
    loads: list[Load] = field(default_factory=list)
    growth: list[Growth] = field(default_factory=list)


def run_task(scenario: str) -> dict[str, Any]:
    """A RunTask request of count 10 for a scenario (its own task group)."""
    return {
        "cluster": "bench",
        "taskDefinition": "bench",
        "count": 10,
        "group": scenario,
        **E2E_SCENARIOS[scenario],
    }


def end_to_end(args: Any, report: Report) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="openecs-bench-sched-") as tmp:
            stack = start_stack(size, Path(tmp), args.concurrency)
            try:
                growth = Growth(size, stack.registered_seconds, resident_mb(stack.pid))
                report.growth.append(growth)
                print(f"  {size:,} instances registered: {growth}", file=sys.stderr, flush=True)
                report.loads.append(stack.load("ListClusters (baseline)", "ListClusters", {}, args))
                scenarios = list(E2E_SCENARIOS) if size == sizes[0] else ["binpack memory"]
                for name in scenarios:
                    report.loads.append(stack.load(name, "RunTask", run_task(name), args))
                    print(f"  {report.loads[-1]}", file=sys.stderr, flush=True)
                if size == sizes[-1]:
                    fill(stack, args)
                growth.tasks = stack.placed
                growth.rss_mb_tasks = resident_mb(stack.pid)
            finally:
                stack.close()


def fill(stack: Stack, args: Any) -> None:
    """Place tasks until `--memory-tasks` are running (bounded by --fill-timeout)."""
    deadline = time.perf_counter() + args.fill_timeout
    payload = run_task("binpack memory")
    while stack.placed < args.memory_tasks and time.perf_counter() < deadline:
        calls = min((args.memory_tasks - stack.placed + 9) // 10, 200)
        _, tasks, _, _ = drive(
            stack.apis, "RunTask", payload, duration=deadline - time.perf_counter(), max_calls=calls
        )
        stack.placed += tasks
        if not tasks:
            break
    wait_running(stack.apis[0], "bench", stack.placed, timeout=300)


# --- report ---------------------------------------------------------------------------


def print_report(report: Report, args: Any) -> list[str]:
    missed: list[str] = []
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(f"SQLite (WAL, synchronous=FULL); RunTask count 10; concurrency {args.concurrency}\n")
    print("Pure scheduler: placements/s, 10,000 tasks")
    print(f"{'instances':>9}  {'scenario':<28}{'one request':>12}{'one-task reqs':>15}  target")
    for r in report.pure:
        verdict = ""
        if r.instances == 1000:
            met = min(r.one_request, r.one_task_requests) >= PURE_TARGET
            verdict = f">= {PURE_TARGET:,}/s {'met' if met else 'MISSED'}"
            if not met:
                missed.append(f"pure {r.scenario}")
        print(
            f"{r.instances:>9,}  {r.scenario:<28}{r.one_request:>12,.0f}"
            f"{r.one_task_requests:>15,.0f}  {verdict}"
        )
    print("\nEnd to end through the API (tasks/s: first RunTask sent → last task RUNNING)")
    print(
        f"{'instances':>9}  {'load':<28}{'calls':>7}{'tasks':>7}{'fail':>6}{'per s':>9}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'cpu ms':>8}  target"
    )
    for r in report.loads:
        baseline = r.name.endswith("(baseline)")
        verdict = "(req/s)" if baseline else ""
        if not baseline and r.instances == 1000:
            met = r.per_second >= E2E_TARGET
            verdict = f">= {E2E_TARGET}/s {'met' if met else 'MISSED'}"
            if not met:
                missed.append(f"end to end {r.name}")
        print(
            f"{r.instances:>9,}  {r.name:<28}{r.calls:>7}{r.tasks:>7}{r.failures:>6}"
            f"{r.per_second:>9.1f}{r.p50_ms:>8.1f}{r.p99_ms:>8.1f}{r.server_cpu_ms:>8.2f}"
            f"  {verdict}"
        )
    print("\nGrowth: fleet registration and the server's resident memory")
    print(f"{'instances':>9}{'register s':>12}{'RSS MB':>9}{'tasks':>8}{'RSS MB':>9}  target")
    for g in report.growth:
        verdict = ""
        if g.instances == 5000 and g.tasks >= 20_000:
            met = g.rss_mb_tasks < MEMORY_TARGET_MB
            verdict = f"< {MEMORY_TARGET_MB} MB {'met' if met else 'MISSED'}"
            if not met:
                missed.append("memory")
        print(
            f"{g.instances:>9,}{g.registered_seconds:>12.1f}{g.rss_mb_registered:>9.1f}"
            f"{g.tasks:>8,}{g.rss_mb_tasks:>9.1f}  {verdict}"
        )
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per load at most")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sizes", default="1000,2000,5000")
    parser.add_argument("--memory-tasks", type=int, default=20_000)
    parser.add_argument("--fill-timeout", type=float, default=300.0)
    parser.add_argument("--pure-tasks", type=int, default=10_000)
    parser.add_argument("--skip-pure", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "scheduler.json"))
    args = parser.parse_args()
    report = Report()
    if not args.skip_pure:
        report.pure = pure([int(s) for s in args.sizes.split(",")], args.pure_tasks)
    end_to_end(args, report)
    missed = print_report(report, args)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(),
                "args": vars(args),
                "pure": [asdict(r) for r in report.pure],
                "loads": [asdict(r) for r in report.loads],
                "growth": [asdict(g) for g in report.growth],
                "missed": missed,
            },
            indent=2,
        )
    )
    if missed:
        print(f"\ntargets missed: {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
