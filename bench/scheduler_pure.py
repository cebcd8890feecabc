"""The pure scheduler's speed: placements per second on synthetic clusters.

Builds 1,000, 2,000 and 5,000 container instances (four sizes, three
Availability Zones, an instance type and a custom attribute each, some tasks
already running) and, per scenario, places 10,000 tasks one after another,
each placement updating the view the next one sees — first as one request of
10,000 tasks, then as 10,000 one-task requests on the same snapshot. Also
reports what the first request on a fresh snapshot pays before it places
anything (every filter over every instance, the selector's set-up).

    .venv/bin/python bench/scheduler_pure.py [--tasks N] [--sizes 1000,2000,5000]

Target: 2,000 placements/s at 1,000 instances for every scenario, both ways.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter

from openecs.domain.container_instance import ContainerInstance
from openecs.domain.resources import Capacity, Reservation
from openecs.scheduler.constraints import parse_constraints
from openecs.scheduler.placement import place_tasks
from openecs.scheduler.strategies import parse_strategy
from openecs.scheduler.view import ClusterView, InstanceView, PlacementRequest

TARGET_PER_SECOND = 2_000
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
# (instance type, CPU units, MiB)
SIZES = (
    ("m5.large", 2048, 7680),
    ("m5.xlarge", 4096, 15616),
    ("c5.2xlarge", 8192, 15616),
    ("r5.4xlarge", 16384, 126976),
)
TASK = Reservation(cpu=64, memory=128)
GROUP = "service:web"
# A placementStrategy or placementConstraints list, as the API takes it.
Rules = list[dict[str, str]]


def build_cluster(count: int, seed: int) -> ClusterView:
    rng = random.Random(seed)
    views = []
    for n in range(count):
        kind, cpu, memory = SIZES[n % len(SIZES)]
        zone = ZONES[n % len(ZONES)]
        instance = ContainerInstance(
            instance_id=f"{n:08x}-0000-4000-8000-000000000000",
            arn=f"arn:aws:ecs:us-east-1:123456789012:container-instance/bench/{n:08x}",
            account_id="123456789012",
            region="us-east-1",
            cluster="bench",
            ec2_instance_id=f"i-{n:017x}",
            capacity=Capacity(cpu, memory),
            registered_at=1_700_000_000.0 + n,
            availability_zone=zone,
            instance_type=kind,
            attributes=[
                {"name": "ecs.availability-zone", "value": zone},
                {"name": "ecs.instance-type", "value": kind},
                {"name": "stack", "value": "prod" if n % 5 else "test"},
                {"name": "ecs.capability.docker-remote-api.1.40"},
            ],
            version_info={"agentVersion": "1.80.0"},
        )
        running = rng.randrange(4)
        used = Reservation(cpu=running * 128, memory=running * 256)
        groups = Counter({GROUP: running}) if running else Counter()
        views.append(InstanceView(instance, instance.capacity.remaining(used), groups, running))
    return ClusterView(views)


def request(count: int, strategy: Rules, constraints: Rules) -> PlacementRequest:
    return PlacementRequest(
        count=count,
        reservation=TASK,
        group=GROUP,
        launch_type="EC2",
        strategy=parse_strategy(strategy),
        constraints=parse_constraints(constraints),
        seed=7,
        is_service=True,
    )


SCENARIOS: dict[str, tuple[Rules, Rules]] = {
    "binpack memory": ([{"type": "binpack", "field": "memory"}], []),
    "spread AZ, then instanceId": (
        [
            {"type": "spread", "field": "attribute:ecs.availability-zone"},
            {"type": "spread", "field": "instanceId"},
        ],
        [],
    ),
    "memberOf + random": (
        [{"type": "random"}],
        [
            {
                "type": "memberOf",
                "expression": "attribute:stack == prod and "
                "attribute:ecs.instance-type =~ (m5|r5).*",
            }
        ],
    ),
    "memberOf + spread AZ + binpack cpu": (
        [
            {"type": "spread", "field": "attribute:ecs.availability-zone"},
            {"type": "binpack", "field": "cpu"},
        ],
        [{"type": "memberOf", "expression": "not(attribute:ecs.instance-type == m5.large)"}],
    ),
}


def one_request(size: int, strategy: Rules, constraints: Rules, tasks: int) -> float:
    """Placements/s when all the tasks come in one request."""
    cluster = build_cluster(size, seed=size)
    req = request(tasks, strategy, constraints)
    start = time.perf_counter()
    plan = place_tasks(cluster, req)
    return len(plan.placements) / (time.perf_counter() - start)


def one_task_requests(size: int, strategy: Rules, constraints: Rules, tasks: int) -> float:
    """Placements/s when each task is a request of its own on the same snapshot."""
    cluster = build_cluster(size, seed=size)
    req = request(1, strategy, constraints)
    placed = 0
    start = time.perf_counter()
    for _ in range(tasks):
        placed += len(place_tasks(cluster, req).placements)
    return placed / (time.perf_counter() - start)


def first_request(size: int, strategy: Rules, constraints: Rules) -> float:
    """Seconds a one-task request takes on a fresh snapshot (filters + selector set-up)."""
    req = request(1, strategy, constraints)
    best = float("inf")
    for _ in range(3):
        cluster = build_cluster(size, seed=size)
        start = time.perf_counter()
        place_tasks(cluster, req)
        best = min(best, time.perf_counter() - start)
    return best


def run(sizes: list[int], tasks: int) -> bool:
    ok = True
    print(
        f"{'instances':>9}  {'scenario':<36}{'one request':>13}{'one-task requests':>19}"
        f"{'first request':>15}  target"
    )
    print(f"{'':>9}  {'':<36}{'placements/s':>13}{'placements/s':>19}{'(set-up)':>15}")
    for size in sizes:
        for name, (strategy, constraints) in SCENARIOS.items():
            batch = one_request(size, strategy, constraints, tasks)
            singles = one_task_requests(size, strategy, constraints, tasks)
            first = first_request(size, strategy, constraints)
            verdict = ""
            if size == 1000:
                met = min(batch, singles) >= TARGET_PER_SECOND
                ok = ok and met
                verdict = f"{'met' if met else 'MISSED'} ({TARGET_PER_SECOND:,}/s)"
            print(
                f"{size:>9,}  {name:<36}{batch:>13,.0f}{singles:>19,.0f}"
                f"{first * 1000:>12.2f} ms  {verdict}"
            )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--sizes", default="1000,2000,5000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    return 0 if run(sizes, args.tasks) else 1


if __name__ == "__main__":
    sys.exit(main())
